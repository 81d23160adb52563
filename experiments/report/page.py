"""The report page: reads the settings every section shares off the documents, then puts the
sections together in the order a marketer reads them (verdict first, numbers last).

The settings are resolved once here, so no section can read a different alpha, control or
moment than another."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from importlib.resources import files
from typing import Any, Final

from experiments._reading import mapping as _map
from experiments._reading import mappings as _maps
from experiments._reading import number as _num
from experiments._reading import text as _text
from experiments.report.charts import (
    daily_plot,
    forest_description,
    forest_plot,
    forest_rows,
    time_window,
    variant_colours,
)
from experiments.report.formatting import escape, instant, level, metric_label
from experiments.report.readout import ReadOut
from experiments.report.sections import (
    header,
    health_section,
    metrics_section,
    programme_section,
    variants_section,
)
from experiments.report.table import table_section
from experiments.report.verdicts import correction, decision_of, headline

DEFAULT_ALPHA: Final = 0.05


# Inlined into the page, not linked: the file must open offline, attached to an e-mail.
_CSS: Final = files("experiments.report").joinpath("report.css").read_text(encoding="utf-8")


def _holdouts(experiment: Mapping[str, Any]) -> frozenset[str]:
    """Variants that get no offer: the baseline of what the whole programme adds."""
    return frozenset(
        _text(v.get("id"))
        for v in _maps(experiment.get("variants"))
        if _map(v.get("treatment")).get("policy") == "holdout"
    )


def _alpha(results: Mapping[str, Any], experiment: Mapping[str, Any]) -> float:
    """The results' alpha, else the experiment's, else the default: the first that is a
    probability, so an alpha of 0 or 5 (a percentage typed as a number) decides no verdict."""
    alpha = _num(results.get("alpha"))
    if alpha is None or not 0.0 < alpha < 1.0:
        alpha = _num(experiment.get("alpha"))
    if alpha is None or not 0.0 < alpha < 1.0:
        alpha = DEFAULT_ALPHA
    return alpha


def _result_section(results: Mapping[str, Any], readout: ReadOut) -> str:
    """The experiment's decision, then one headline per variant against control."""
    headlines = [
        headline(c, readout.control, readout.metric, readout.alpha, readout.stopped)
        for c in _maps(_map(results.get("overall")).get("comparisons"))
        if _text(c.get("variant")) not in readout.holdouts
    ]
    headline_html = "".join(f'<p class="headline {css}">{text}</p>' for text, css in headlines)
    if not headline_html:
        headline_html = '<p class="headline muted">No comparison with control yet.</p>'
    decided = decision_of(results)
    if decided is not None:
        label, css, rule = decided
        if _text(results.get("decision")) in ("ship", "roll_back"):
            label += " " + _text(results.get("decision_variant"))
        headline_html = (
            f'<p class="headline {css}">Decision for the experiment: <strong>{escape(label)}'
            f'</strong><br><span class="ci">Rule: {escape(rule)}</span></p>' + headline_html
        )
    return f"<section><h2>Result</h2>{headline_html}</section>"


def _forest_section(results: Mapping[str, Any], alpha: float, holdouts: frozenset[str]) -> str:
    rows = forest_rows(results, alpha, holdouts)
    forest = (
        f'<img src="data:image/png;base64,{forest_plot(rows, alpha)}" '
        f'alt="{escape(forest_description(rows, alpha))}">'
        if rows
        else '<p class="note">No comparisons to plot yet.</p>'
    )
    return (
        "<section><h2>Lift by segment</h2>"
        '<p class="note">Each row compares one variant with control in one segment. The dot is '
        f"the best estimate, the bar the unadjusted {level(alpha)} interval; right of the "
        "dashed zero line is better than control. Colour follows the bar drawn: green when it "
        "lies wholly above zero, red wholly below, grey when it includes zero. A filled dot is "
        "significant after the multiple-testing correction "
        f"({escape(correction(results))}); a hollow one is not, even when its bar clears zero."
        f"</p>{forest}</section>"
    )


def _over_time_section(
    results: Mapping[str, Any],
    experiment: Mapping[str, Any],
    metric: str,
    control: str,
    now: datetime,
) -> str:
    """The cumulative chart, each variant in the colour of its place in the experiment."""
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
    window = time_window(experiment, days, now)
    drawn = daily_plot(daily_points, metric, variant_colours(order), control, window)
    daily = (
        f'<img src="data:image/png;base64,{drawn[0]}" alt="{escape(drawn[1])}">'
        if drawn
        else '<p class="note">No daily numbers yet.</p>'
    )
    return (
        f"<section><h2>{escape(metric_label(metric).capitalize())} over time</h2>"
        '<p class="note">Cumulative value per variant, each point at the end of its day (or '
        "now, for the day still running): lines that settle apart suggest a lasting "
        "difference; early swings are noise.</p>"
        f"{daily}</section>"
    )


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
    moment = instant(now) if now is not None else None
    now = moment or datetime.now(UTC)
    metric = _text(results.get("metric") or experiment.get("primary_metric")) or "metric"
    control = _text(results.get("control") or experiment.get("control"))
    alpha = _alpha(results, experiment)
    stopped = experiment.get("status") == "stopped"
    title = _text(experiment.get("name")) or _text(results.get("experiment_id")) or "Experiment"
    holdouts = _holdouts(experiment)
    readout = ReadOut(control, metric, alpha, stopped, holdouts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} \u2014 experiment report</title>"
        f"<style>\n{_CSS}</style></head><body><main>"
        + header(results, experiment, metric, now)
        + _result_section(results, readout)
        + metrics_section(results, secondary, experiment, readout)
        + health_section(results, experiment, control, now)
        + variants_section(experiment, results, control)
        + programme_section(results, readout)
        + _forest_section(results, alpha, holdouts)
        + _over_time_section(results, experiment, metric, control, now)
        + table_section(results, readout)
        + "</main></body></html>\n"
    )
