"""Experiment results as one HTML file a marketer can open, and as CSV for spreadsheets.

The report is read by people who will not ask a statistician what ``relative_ci`` means, so
every number is turned into a sentence or a labelled cell, and every verdict uses one rule
(:func:`_decisive_p`): the multiplicity-adjusted p-value when the results carry one, else the
raw p-value, against the experiment's alpha. The headline, the forest plot and the table can
therefore never disagree about what is "significant".

The file must open anywhere, offline, attached to an e-mail: CSS is inline, charts are
base64 PNGs rendered with matplotlib's Agg canvas (no pyplot, so no global state between
calls), and there is no JavaScript. Every string from the input is escaped, because experiment
and segment names are typed by users and the file is opened in a browser.

Pure: results and experiment documents in, text out; nothing from ``engine`` or ``api``.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter
from matplotlib.transforms import blended_transform_factory

__all__ = ["CSV_COLUMNS", "render_csv", "render_report"]

MISSING: Final = "\u2013"
"""What a missing, NaN or infinite number is shown as."""

DEFAULT_ALPHA: Final = 0.05

CSV_COLUMNS: Final[tuple[str, ...]] = (
    "scope",
    "segment",
    "variant",
    "is_control",
    "units",
    "conversions",
    "clicks",
    "value",
    "revenue",
    "absolute_lift",
    "absolute_ci_low",
    "absolute_ci_high",
    "relative_lift",
    "relative_ci_low",
    "relative_ci_high",
    "p_value",
    "p_value_adjusted",
    "chance_to_win",
    "srm_p_value",
    "srm_mismatch",
    "error",
)

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
# Spreadsheet programs run cells starting with these as formulas (CSV injection).
_FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")


# --- reading untrusted documents -------------------------------------------------------------


def _num(value: object) -> float | None:
    """A finite float, or None: the report never shows NaN, inf or a bool as a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: object) -> list[Mapping[str, Any]]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _pair(value: object) -> tuple[float | None, float | None]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        return None, None
    return _num(value[0]), _num(value[1])


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
    if value is None:
        return MISSING
    return f"{value:,.0f}" if value == int(value) else _minus(f"{value:,.2f}")


def _money(value: float | None) -> str:
    return MISSING if value is None else _minus(f"{value:,.2f}")


def _p(value: float | None) -> str:
    if value is None:
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _chance(value: float | None) -> str:
    if value is None:
        return MISSING
    if value > 0.999:
        return "> 99.9%"
    if value < 0.001:
        return "< 0.1%"
    return f"{value * 100:.1f}%"


def _interval(pair: tuple[float | None, float | None], fmt: str, metric: str = "") -> str:
    low, high = pair
    if low is None or high is None:
        return MISSING
    if fmt == "pct":
        return f"{_pct(low)} to {_pct(high)}"
    return f"{_abs_lift(low, metric)} to {_abs_lift(high, metric)}"


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


def _verdict(comparison: Mapping[str, Any], alpha: float, stopped: bool) -> tuple[str, str]:
    """A short verdict and its CSS class."""
    significant = _significant(comparison, alpha)
    lift = _direction(comparison)
    if significant is None or lift is None:
        return "no estimate yet", "muted"
    if not significant:
        return ("not significant" if stopped else "not significant yet"), "muted"
    if lift > 0:
        return "significantly better", "good"
    if lift < 0:
        return "significantly worse", "bad"
    return "no difference", "muted"


def _headline(
    comparison: Mapping[str, Any], control: str, metric: str, alpha: float, stopped: bool
) -> tuple[str, str]:
    """The sentence a marketer reads first (HTML, already escaped) and its CSS class."""
    variant = f"<strong>{_e(comparison.get('variant'))}</strong>"
    baseline = f"<strong>{_e(control)}</strong>"
    relative = _num(comparison.get("relative_lift"))
    verdict, css = _verdict(comparison, alpha, stopped)
    if relative is None:
        return f"{variant}: no estimate against {baseline} yet.", "muted"
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
        parts.append(f", p = {_e(_p(p))}")
        if adjusted is not None and adjusted != p:
            parts.append(f" (adjusted {_e(_p(adjusted))})")
    closing = "significant" if verdict.startswith("significantly") else verdict
    parts.append(f" \u2014 {_e(closing)}")
    sentence = "".join(parts)
    return sentence + ".", css


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


_ForestRow = tuple[str, str, float | None, float | None, float | None, str]


def _forest_rows(results: Mapping[str, Any], alpha: float) -> list[_ForestRow]:
    """(scope, variant, lift, low, high, colour) per comparison, all customers first."""
    scopes: list[tuple[str, Mapping[str, Any]]] = [("All customers", _map(results.get("overall")))]
    scopes += [(_text(s.get("segment")), s) for s in _maps(results.get("segments"))]
    rows: list[_ForestRow] = []
    for name, scope in scopes:
        for comparison in _maps(scope.get("comparisons")):
            lift = _num(comparison.get("relative_lift"))
            low, high = _pair(comparison.get("relative_ci"))
            significant = _significant(comparison, alpha)
            colour = _GREY
            if significant and lift is not None:
                colour = _GREEN if lift > 0 else _RED
            rows.append((name, _text(comparison.get("variant")), lift, low, high, colour))
    return rows


def _forest_plot(rows: Sequence[_ForestRow], alpha: float) -> str:
    height = 1.3 + 0.36 * len(rows)
    figure = Figure(figsize=(10.5, height), dpi=110, layout="constrained")
    ax = figure.add_subplot()
    positions = list(range(len(rows)))[::-1]
    scope_index = 0
    previous = None
    for y, (scope, _variant, lift, low, high, colour) in zip(positions, rows, strict=True):
        if scope != previous:
            scope_index += 1
            previous = scope
        if scope_index % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#f6f8fa", zorder=0)
        if low is not None and high is not None:
            ax.plot([low, high], [y, y], color=colour, linewidth=2.4, solid_capstyle="round")
        if lift is not None:
            ax.plot([lift], [y], "o", color=colour, markersize=7, zorder=3)
        label = MISSING if lift is None else _pct(lift, signed=True)
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
        f"Relative lift over control, with {_level(alpha)} interval "
        "(green: significantly better, red: significantly worse, grey: not significant)",
        fontsize=9,
    )
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#d0d7de", linewidth=0.6)
    return _png(figure)


def _daily_plot(
    daily: Sequence[Mapping[str, Any]], metric: str, colours: Mapping[str, str], control: str
) -> str | None:
    series: dict[str, list[tuple[date, float]]] = {}
    for point in daily:
        value = _num(point.get("value"))
        try:
            day = date.fromisoformat(_text(point.get("day"))[:10])
        except ValueError:
            continue
        if value is not None:
            series.setdefault(_text(point.get("variant")), []).append((day, value))
    if not series:
        return None
    figure = Figure(figsize=(10.5, 3.8), dpi=110, layout="constrained")
    ax = figure.add_subplot()
    for variant, points in series.items():
        points.sort()
        ax.plot(
            [day.toordinal() for day, _ in points],
            [value for _, value in points],
            marker="o",
            markersize=3.5,
            linewidth=2.2,
            linestyle="--" if variant == control else "-",
            color=colours.get(variant, _GREY),
            label=_chart_text(
                f"{variant} (control)" if variant == control != "control" else variant
            ),
        )
    # Day ordinals rather than matplotlib.dates, whose helpers are untyped.
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, _pos: date.fromordinal(round(v)).strftime("%b %d"))
    )
    if _is_rate(metric):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.2f}"))
    ax.set_ylabel(_chart_text(f"Cumulative {_metric_label(metric)}"), fontsize=9)
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
    return _png(figure)


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


def _header(results: Mapping[str, Any], experiment: Mapping[str, Any], metric: str) -> str:
    status = _text(experiment.get("status")) or "unknown"
    colour = _STATUS_COLOURS.get(status, _GREY)
    experiment_id = _text(results.get("experiment_id"))
    title = _text(experiment.get("name")) or experiment_id or "Experiment"
    details = [f"Primary metric: <strong>{_e(_metric_label(metric))}</strong>"]
    if experiment_id:
        details.append(f"Experiment id: {_e(experiment_id)}")
    for key, label in (("phase", "Phase"), ("started_at", "Started"), ("stopped_at", "Stopped")):
        if experiment.get(key) not in (None, ""):
            details.append(f"{label}: {_e(experiment.get(key))}")
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
            f"Sample ratio mismatch (p = {_p(p)}): customers did not arrive in the planned "
            "proportions, so assignment or tracking is broken and the results may be biased. "
            "Fix this before trusting any number below.",
            "bad",
        )
    if mismatch is False:
        return (
            f"Traffic split OK (p = {_p(p)}): customers arrived in the planned proportions.",
            "good",
        )
    return "Traffic split not checked yet.", "muted"


def _power_sentence(power: Mapping[str, Any]) -> tuple[str, str]:
    mde = _num(power.get("minimum_detectable_effect"))
    achieved = _num(power.get("power"))
    days = _num(power.get("days_to_significance"))
    more = _num(power.get("additional_units"))
    prefix = f"{_text(power.get('variant'))}: " if power.get("variant") else ""
    target = f"a {_pct(mde)} lift" if mde is not None else "the minimum detectable effect"
    tail = f" Current power: {_pct(achieved)}." if achieved is not None else ""
    if more is not None and more <= 0:
        return f"{prefix}Enough customers to detect {target}.{tail}", "good"
    if more is not None:
        # additional_units counts both arms of the comparison (experiments.stats convention).
        when = (
            f", about {days:,.0f} more day{'s' if round(days) != 1 else ''} at current traffic"
            if days is not None
            else ""
        )
        return (
            f"{prefix}Needs about {more:,.0f} more customers "
            f"({math.ceil(more / 2):,} per variant){when}, to detect {target} reliably.{tail}",
            "muted",
        )
    if achieved is not None:
        return f"{prefix}Power to detect {target}: {_pct(achieved)}.", "muted"
    return f"{prefix}Power not computed yet.", "muted"


def _health_section(results: Mapping[str, Any], experiment: Mapping[str, Any]) -> str:
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
    power = results.get("power")
    entries = _maps(power) if not isinstance(power, Mapping) else [power]
    for entry in entries:
        text, css = _power_sentence(entry)
        items.append(f'<div class="status {css}"><strong>Sample size.</strong> {_e(text)}</div>')
    if not entries:
        items.append('<div class="status muted"><strong>Sample size.</strong> Not computed.</div>')
    analysis = _text(results.get("analysis") or experiment.get("analysis"))
    note = _ANALYSIS_NOTES.get(analysis)
    if note:
        items.append(f'<p class="note">{_e(note)}</p>')
    return "<section><h2>Can we trust it?</h2>" + "".join(items) + "</section>"


_TABLE_HEAD: Final = (
    "<thead><tr><th>Variant</th><th>Customers</th><th>Conversions</th><th>{metric}</th>"
    "<th>Revenue</th><th>Lift, absolute<br><small>({level} interval)</small></th>"
    "<th>Lift, relative<br><small>({level} interval)</small></th><th>p&#8209;value</th>"
    "<th>Adjusted p</th><th>Chance to win</th><th>Verdict</th></tr></thead>"
)


def _scope_rows(
    name: str,
    scope: Mapping[str, Any],
    control: str,
    metric: str,
    alpha: float,
    stopped: bool,
) -> str:
    srm_text, srm_css = _srm_sentence(_map(scope.get("srm")))
    srm_label = {"good": "split OK", "bad": "split mismatch", "muted": ""}[srm_css]
    p = _num(_map(scope.get("srm")).get("p_value"))
    if srm_label and p is not None:
        srm_label += f" (p = {_p(p)})"
    rows = [
        f'<tr class="scope"><th colspan="11">{_e(name)}'
        f'<span class="scope-srm {srm_css}" title="{_e(srm_text)}">{_e(srm_label)}</span>'
        "</th></tr>"
    ]
    comparisons = {_text(c.get("variant")): c for c in _maps(scope.get("comparisons"))}
    variants = _maps(scope.get("variants"))
    listed = {_text(v.get("variant")) for v in variants}
    variants += [{"variant": name} for name in comparisons if name not in listed]
    for variant in variants:
        variant_name = _text(variant.get("variant"))
        cells = [
            _count(_num(variant.get("units"))),
            _count(_num(variant.get("conversions"))),
            _value(_num(variant.get("value")), metric),
            _money(_num(variant.get("revenue"))),
        ]
        tag = _control_tag(variant_name, control)
        row = f'<tr><td class="name">{_e(variant_name)}{tag}</td>' + "".join(
            f"<td>{_e(cell)}</td>" for cell in cells
        )
        comparison = comparisons.get(variant_name)
        if comparison is None:
            baseline = "baseline" if variant_name == control else MISSING
            row += f'<td class="muted" colspan="6">{_e(baseline)}</td></tr>'
            rows.append(row)
            continue
        verdict, css = _verdict(comparison, alpha, stopped)
        lifts = [
            (
                _abs_lift(_num(comparison.get("absolute_lift")), metric),
                _interval(_pair(comparison.get("absolute_ci")), "abs", metric),
            ),
            (
                _pct(_num(comparison.get("relative_lift")), signed=True),
                _interval(_pair(comparison.get("relative_ci")), "pct"),
            ),
        ]
        row += "".join(
            f'<td>{_e(lift)}<br><span class="ci">({_e(ci)})</span></td>' for lift, ci in lifts
        )
        tests = [
            _p(_num(comparison.get("p_value"))),
            _p(_num(comparison.get("p_value_adjusted"))),
            _chance(_num(comparison.get("chance_to_win"))),
        ]
        row += "".join(f"<td>{_e(cell)}</td>" for cell in tests)
        rows.append(row + f'<td class="{css}">{_e(verdict)}</td></tr>')
    return "".join(rows)


def _table_section(
    results: Mapping[str, Any], control: str, metric: str, alpha: float, stopped: bool
) -> str:
    body = _scope_rows(
        "All customers", _map(results.get("overall")), control, metric, alpha, stopped
    )
    for segment in _maps(results.get("segments")):
        body += _scope_rows(
            f"Segment: {_text(segment.get('segment'))}", segment, control, metric, alpha, stopped
        )
    head = _TABLE_HEAD.format(metric=_e(_metric_label(metric).capitalize()), level=_level(alpha))
    return (
        "<section><h2>All numbers</h2>"
        '<p class="note">Customers are counted once, in the segments they belonged to when first '
        "exposed. Verdicts use the adjusted p-value when there is one, because many comparisons "
        "are made at once. Chance to win: the probability the variant beats control.</p>"
        f'<div style="overflow-x:auto"><table>{head}<tbody>{body}</tbody></table></div>'
        "</section>"
    )


# --- public ----------------------------------------------------------------------------------


def render_report(results: Mapping[str, Any], experiment: Mapping[str, Any]) -> str:
    """One self-contained HTML document for ``results`` (DESIGN.md shape) of ``experiment``.

    Never raises on odd data: missing sections are reported as missing, and missing or
    non-finite numbers are shown as an en dash, because a report that fails to render is worse
    than one with gaps while an experiment is young.
    """
    metric = _text(results.get("metric") or experiment.get("primary_metric")) or "metric"
    control = _text(results.get("control") or experiment.get("control"))
    alpha = _num(results.get("alpha"))
    if alpha is None or not 0.0 < alpha < 1.0:
        alpha = _num(experiment.get("alpha"))
    if alpha is None or not 0.0 < alpha < 1.0:
        alpha = DEFAULT_ALPHA
    stopped = experiment.get("status") == "stopped"
    title = _text(experiment.get("name")) or _text(results.get("experiment_id")) or "Experiment"

    headlines = [
        _headline(c, control, metric, alpha, stopped)
        for c in _maps(_map(results.get("overall")).get("comparisons"))
    ]
    headline_html = "".join(f'<p class="headline {css}">{text}</p>' for text, css in headlines)
    if not headline_html:
        headline_html = '<p class="headline muted">No comparison with control yet.</p>'

    rows = _forest_rows(results, alpha)
    forest = (
        f'<img src="data:image/png;base64,{_forest_plot(rows, alpha)}" '
        'alt="Relative lift over control with confidence interval, per segment and variant">'
        if rows
        else '<p class="note">No comparisons to plot yet.</p>'
    )
    order = [_text(v.get("id")) for v in _maps(experiment.get("variants"))]
    order += [
        _text(v.get("variant"))
        for v in _maps(_map(results.get("overall")).get("variants"))
        if _text(v.get("variant")) not in order
    ]
    daily_png = _daily_plot(_maps(results.get("daily")), metric, _colours(order), control)
    daily = (
        f'<img src="data:image/png;base64,{daily_png}" '
        f'alt="{_e(f"Cumulative {_metric_label(metric)} per variant by day")}">'
        if daily_png
        else '<p class="note">No daily numbers yet.</p>'
    )

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} \u2014 experiment report</title>"
        f"<style>{_CSS}</style></head><body><main>"
        + _header(results, experiment, metric)
        + f"<section><h2>Result</h2>{headline_html}</section>"
        + _health_section(results, experiment)
        + _variants_section(experiment, results, control)
        + "<section><h2>Lift by segment</h2>"
        '<p class="note">Each row compares one variant with control in one segment. The dot is '
        "the best estimate, the bar the range the true lift most likely lies in; right of the "
        "dashed zero line is better than control. Colour is the verdict: green significantly "
        "better, red significantly worse, grey not significant.</p>"
        f"{forest}</section>"
        + f"<section><h2>{_e(_metric_label(metric).capitalize())} over time</h2>"
        '<p class="note">Cumulative value per variant: lines that settle apart suggest a lasting '
        "difference; early swings are noise.</p>"
        f"{daily}</section>"
        + _table_section(results, control, metric, alpha, stopped)
        + "</main></body></html>\n"
    )


def _csv_text(value: object) -> str:
    text = _text(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _csv_num(value: object) -> str:
    number = _num(value)
    return "" if number is None else repr(number)


def _csv_count(value: object) -> str:
    """A count as an integer: ``1049``, never ``1049.0``, which spreadsheets and pandas would
    read as a measurement rather than a count."""
    number = _num(value)
    if number is None:
        return ""
    return str(int(number)) if number.is_integer() else repr(number)


NO_COMPARISON: Final = "NO_COMPARISON"
"""The CSV's ``error`` for a variant the results hold no comparison with control for."""


def render_csv(results: Mapping[str, Any]) -> str:
    """One row per scope x variant, for analysts who continue in a spreadsheet.

    Overall rows have ``scope=overall`` and an empty segment, so a segment can be called
    anything without colliding with them. Missing numbers are empty cells (spreadsheets
    read those as blanks, not as text), and user-typed names cannot start a formula. Counts
    are integers. ``error`` says why a comparison's estimates are empty: the statistics'
    code (e.g. ``ZERO_VARIANCE``), or ``NO_COMPARISON``; it is empty for control, the baseline.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    control = _text(results.get("control"))
    scopes: list[tuple[str, str, Mapping[str, Any]]] = [
        ("overall", "", _map(results.get("overall")))
    ]
    scopes += [("segment", _text(s.get("segment")), s) for s in _maps(results.get("segments"))]
    for kind, segment, scope in scopes:
        srm = _map(scope.get("srm") if kind == "segment" else results.get("srm"))
        mismatch = srm.get("mismatch")
        comparisons = {_text(c.get("variant")): c for c in _maps(scope.get("comparisons"))}
        variants = _maps(scope.get("variants"))
        listed = {_text(v.get("variant")) for v in variants}
        variants += [{"variant": name} for name in comparisons if name not in listed]
        for variant in variants:
            name = _text(variant.get("variant"))
            comparison = comparisons.get(name, {})
            absolute = _pair(comparison.get("absolute_ci"))
            relative = _pair(comparison.get("relative_ci"))
            if name == control:
                error = ""
            elif not comparison:
                error = NO_COMPARISON
            else:
                error = _text(comparison.get("error"))
            writer.writerow(
                [
                    kind,
                    _csv_text(segment),
                    _csv_text(name),
                    "true" if name == control else "false",
                    _csv_count(variant.get("units")),
                    _csv_count(variant.get("conversions")),
                    _csv_count(variant.get("clicks")),
                    _csv_num(variant.get("value")),
                    _csv_num(variant.get("revenue")),
                    _csv_num(comparison.get("absolute_lift")),
                    _csv_num(absolute[0]),
                    _csv_num(absolute[1]),
                    _csv_num(comparison.get("relative_lift")),
                    _csv_num(relative[0]),
                    _csv_num(relative[1]),
                    _csv_num(comparison.get("p_value")),
                    _csv_num(comparison.get("p_value_adjusted")),
                    _csv_num(comparison.get("chance_to_win")),
                    _csv_num(srm.get("p_value")),
                    "" if not isinstance(mismatch, bool) else str(mismatch).lower(),
                    _csv_text(error),
                ]
            )
    return buffer.getvalue()
