"""The report's sections between the headline and the table of numbers: the header, every
declared metric with its verdict, whether the results can be trusted, the variants and their
traffic, and what the programme adds over the holdout.

Each section is a function of the documents and the settings the page resolved once, and
returns escaped HTML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from experiments._reading import mapping as _map
from experiments._reading import mappings as _maps
from experiments._reading import number as _num
from experiments._reading import pair as _pair
from experiments._reading import text as _text
from experiments.report.charts import GREEN, GREY
from experiments.report.formatting import (
    MISSING,
    abs_lift,
    control_tag,
    count,
    duration,
    escape,
    instant,
    interval,
    level,
    metric_label,
    metric_value,
    moment_label,
    p_text,
    pct,
)
from experiments.report.readout import ReadOut
from experiments.report.verdicts import decision_of, power_sentences, srm_sentence, verdict_of

_STATUS_COLOURS: Final[Mapping[str, str]] = {
    "running": GREEN,
    "paused": "#9a6700",
    "stopped": GREY,
    "draft": "#0969da",
}
_ANALYSIS_NOTES: Final[Mapping[str, str]] = {
    "frequentist": "Fixed-horizon test: read the verdict once the planned sample is reached.",
    "sequential": "Always-valid intervals: the verdict stays trustworthy however often you look.",
    "bayesian": "Bayesian analysis: 'chance to win' is the probability the variant beats control.",
}


def header(
    results: Mapping[str, Any], experiment: Mapping[str, Any], metric: str, now: datetime
) -> str:
    status = _text(experiment.get("status")) or "unknown"
    colour = _STATUS_COLOURS.get(status, GREY)
    experiment_id = _text(results.get("experiment_id"))
    title = _text(experiment.get("name")) or experiment_id or "Experiment"
    details = [f"Primary metric: <strong>{escape(metric_label(metric))}</strong>"]
    if experiment_id:
        details.append(f"Experiment id: {escape(experiment_id)}")
    if experiment.get("phase") not in (None, ""):
        details.append(f"Phase: {escape(experiment.get('phase'))}")
    start = instant(experiment.get("started_at"))
    stop = instant(experiment.get("stopped_at"))
    for label, moment in (("Started", start), ("Stopped", stop)):
        if moment is not None:
            details.append(f"{label}: {escape(moment_label(moment))}")
    if start is not None:
        ran = "Ran for" if stop is not None else "Running for"
        details.append(f"{ran} {escape(duration(max((stop or now) - start, timedelta())))}")
    details.append(f"Report made {escape(moment_label(now))}")
    hypothesis = _text(experiment.get("hypothesis")).strip() or "No hypothesis was recorded."
    return (
        f"<header><h1>{escape(title)}"
        f'<span class="badge" style="background:{colour}">{escape(status)}</span></h1>'
        f'<p class="meta">{" &nbsp;·&nbsp; ".join(details)}</p></header>'
        f'<section><h2>Hypothesis</h2><p class="hypothesis">{escape(hypothesis)}</p></section>'
    )


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


def variants_section(
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
        tag = control_tag(name, control)
        rows.append(
            f'<tr><td class="name">{escape(name)}{tag}</td>'
            f'<td class="name">{escape(_treatment(_map(variant.get("treatment"))))}</td>'
            f"<td>{escape(pct(_num(variant.get('weight')), digits=1))}</td>"
            f"<td>{escape(count(units))}</td><td>{escape(pct(share, digits=1))}</td></tr>"
        )
    traffic = _num(experiment.get("traffic"))
    targeting = []
    if traffic is not None:
        targeting.append(f"{pct(traffic)} of eligible customers take part")
    segments = [_text(s) for s in experiment.get("segments") or [] if isinstance(s, str)]
    targeting.append("targeted at " + (", ".join(segments) if segments else "everyone"))
    channels = [_text(c) for c in experiment.get("channels") or [] if isinstance(c, str)]
    targeting.append("on " + (", ".join(channels) if channels else "every channel"))
    return (
        "<section><h2>Variants and traffic split</h2><table><thead><tr>"
        '<th>Variant</th><th class="name">What customers get</th><th>Planned share</th>'
        "<th>Customers so far</th><th>Actual share</th></tr></thead><tbody>"
        + "".join(rows)
        + f'</tbody></table><p class="note">{escape("; ".join(targeting))}.</p></section>'
    )


def health_section(
    results: Mapping[str, Any], experiment: Mapping[str, Any], control: str, now: datetime
) -> str:
    srm_text, srm_css = srm_sentence(_map(results.get("srm")))
    items = [f'<div class="status {srm_css}">{escape(srm_text)}</div>']
    flagged = [
        _text(s.get("segment"))
        for s in _maps(results.get("segments"))
        if _map(s.get("srm")).get("mismatch") is True
    ]
    if flagged:
        items.append(
            '<div class="status bad"><strong>Segments with a split mismatch:</strong> '
            f"{escape(', '.join(flagged))}.</div>"
        )
    for text, css in power_sentences(_map(results.get("power")), experiment, control, now):
        items.append(
            f'<div class="status {css}"><strong>Sample size.</strong> {escape(text)}</div>'
        )
    analysis = _text(results.get("analysis") or experiment.get("analysis"))
    note = _ANALYSIS_NOTES.get(analysis)
    if note:
        items.append(f'<p class="note">{escape(note)}</p>')
    return "<section><h2>Can we trust it?</h2>" + "".join(items) + "</section>"


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
        verdict, css = verdict_of(comparison, alpha, stopped)
        cell = escape(verdict)
        decided = decision_of(comparison)
        if decided is not None:
            label, css, rule = decided
            cell += (
                f'<br><strong>{escape(label)}</strong><br><span class="ci">{escape(rule)}</span>'
            )
        low, high = _pair(comparison.get("relative_ci"))
        rows.append(
            f'<tr><td class="name">{escape(metric_label(metric))}</td>'
            f'<td class="name">{escape(role)}'
            f'</td><td class="name">{escape(variant)}</td>'
            f"<td>{escape(pct(_num(comparison.get('relative_lift')), signed=True))}"
            f'<br><span class="ci">({escape(interval((low, high), "pct"))})</span></td>'
            f"<td>{escape(p_text(_num(comparison.get('p_value'))))}</td>"
            f"<td>{escape(p_text(_num(comparison.get('p_value_adjusted'))))}</td>"
            f'<td class="{css} verdict">{cell}</td></tr>'
        )
    if not rows:
        rows.append(
            f'<tr><td class="name">{escape(metric_label(metric))}</td>'
            f'<td class="name">{escape(role)}'
            '</td><td class="muted" colspan="5">no estimate: no comparison with control yet'
            "</td></tr>"
        )
    return rows


def _guardrail_rows(
    results: Mapping[str, Any], experiment: Mapping[str, Any], holdouts: frozenset[str]
) -> list[str]:
    """The status the results give each guardrail, and a row saying so for every declared
    guardrail they carry none for."""
    rows: list[str] = []
    guardrails = _maps(results.get("guardrails"))
    reported = {_text(g.get("metric")) for g in guardrails}
    for guardrail in guardrails:
        variant = _text(guardrail.get("variant"))
        if variant in holdouts:  # the baseline of the programme, not a candidate to harm it
            continue
        status = _text(guardrail.get("verdict")) or MISSING
        css = _GUARDRAIL_STATUS.get(status, "muted")
        rows.append(
            f'<tr><td class="name">{escape(metric_label(_text(guardrail.get("metric"))))}</td>'
            f'<td class="name">guardrail</td><td class="name">{escape(variant)}</td>'
            f"<td>{escape(pct(_num(guardrail.get('estimate')), signed=True))}</td>"
            f"<td>{escape(p_text(_num(guardrail.get('p_value'))))}<br>"
            '<span class="ci">(one-sided)</span></td>'
            f'<td>{MISSING}</td><td class="{css} verdict">guardrail {escape(status)}</td></tr>'
        )
    for metric in experiment.get("guardrail_metrics") or []:
        if isinstance(metric, str) and metric not in reported:
            rows.append(
                f'<tr><td class="name">{escape(metric_label(metric))}</td><td class="name">'
                'guardrail</td><td class="muted" colspan="5">no status: the results carry none '
                "for it</td></tr>"
            )
    return rows


def metrics_section(
    results: Mapping[str, Any],
    secondary: Sequence[Mapping[str, Any]],
    experiment: Mapping[str, Any],
    readout: ReadOut,
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
                f'<tr><td class="name">{escape(metric_label(metric))}</td><td class="name">'
                f'{role}</td><td class="muted" colspan="5">no estimate: its results were not '
                "passed to this report</td></tr>"
            )
        else:
            rows += _metric_rows(role, found, readout.holdouts, readout.alpha, readout.stopped)
    rows += _guardrail_rows(results, experiment, readout.holdouts)
    return (
        "<section><h2>Every declared metric</h2>"
        '<div style="overflow-x:auto"><table><thead><tr><th>Metric</th><th>Role</th>'
        f"<th>Variant</th><th>Lift, relative<br><small>({level(readout.alpha)} interval)</small>"
        "</th>"
        "<th>p&#8209;value</th><th>Adjusted p</th><th>Verdict</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
        '<p class="note">Verdicts of primary and secondary metrics compare the adjusted p-value '
        f"with {readout.alpha:g}. Guardrail status as the results give it, from a one-sided test "
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


def _control_intervals(
    against: Mapping[str, Any], base: float | None, metric: str
) -> tuple[str, str]:
    """Control's absolute and relative intervals over the holdout, turned round from the
    results' holdout-against-control comparison."""
    low, high = _pair(against.get("absolute_ci"))
    abs_ci = interval(
        (-high if high is not None else None, -low if low is not None else None),
        "abs",
        metric,
    )
    rel_low, rel_high = _inverse_interval(_pair(against.get("relative_ci")))
    if not base:  # no upper end means anything when dividing by zero
        rel_ci = (
            f"at least {pct(rel_low, signed=True)}: with no offers the value is zero"
            if rel_low is not None
            else MISSING
        )
    elif rel_high is not None:
        rel_ci = interval((rel_low, rel_high), "pct")
    else:
        rel_ci = f"above {pct(rel_low)}" if rel_low is not None else MISSING
    return abs_ci, rel_ci


def programme_section(results: Mapping[str, Any], readout: ReadOut) -> str:
    """Each variant against the holdout: what offering anything adds over offering nothing."""
    control, metric, holdouts = readout.control, readout.metric, readout.holdouts
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
                abs_ci, rel_ci = _control_intervals(comparisons.get(holdout, {}), base, metric)
            else:
                abs_ci = rel_ci = "no interval: the results compare variants with control only"
            rows.append(
                f'<tr><td class="name">{escape(variant)}{control_tag(variant, control)}</td>'
                f"<td>{escape(metric_value(value, metric))}</td>"
                f"<td>{escape(metric_value(base, metric))}</td>"
                f'<td>{escape(abs_lift(absolute, metric))}<br><span class="ci">({escape(abs_ci)})'
                f"</span></td><td>{escape(pct(relative, signed=True))}<br>"
                f'<span class="ci">({escape(rel_ci)})</span></td></tr>'
            )
        paragraphs.append(
            f"<h3>Offers vs no offers ({escape(holdout)})</h3>"
            '<div style="overflow-x:auto"><table><thead><tr><th>Variant</th>'
            f"<th>{escape(metric_label(metric).capitalize())}</th>"
            f"<th>With no offers ({escape(holdout)})</th>"
            f"<th>Difference<br><small>({level(readout.alpha)} interval)</small></th>"
            f"<th>Relative<br><small>({level(readout.alpha)} interval)</small></th></tr></thead>"
            "<tbody>"
            + "".join(rows)
            + "</tbody></table></div>"
            + "".join(
                f'<p class="note">{escape(_text(p.get("rule")))}.</p>'
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
