"""The report's table of numbers: every scope, variant and comparison with every statistic the
results carry, the last section of the page and the one an analyst checks.

Each number is tagged with the results-table column it shows (``data-column``, the names of
``experiments.tables``), so the page can be checked against the CSV and the JSON cell by
cell."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from experiments._reading import mapping as _map
from experiments._reading import mappings as _maps
from experiments._reading import number as _num
from experiments._reading import pair as _pair
from experiments._reading import text as _text
from experiments.report.formatting import (
    MISSING,
    abs_lift,
    chance,
    control_tag,
    count,
    escape,
    interval_ends,
    level,
    metric_label,
    metric_value,
    money,
    p_text,
    pct,
)
from experiments.report.readout import ReadOut
from experiments.report.verdicts import correction, srm_sentence, verdict_of

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
    return f'<span data-column="{column}">{escape(text)}</span>'


def _labelled_interval(
    pair: tuple[float | None, float | None], fmt: str, column: str, metric: str = ""
) -> str:
    ends = interval_ends(pair, fmt, metric)
    if ends is None:
        return escape(MISSING)
    low, high = ends
    return f"{_labelled(column + '_ci_low', low)} to {_labelled(column + '_ci_high', high)}"


def _method_note(comparison: Mapping[str, Any]) -> str:
    """Which test ran, and what CUPED removed, under the p-value: an analyst reproducing the
    number needs both."""
    test = _text(comparison.get("test"))
    parts = [_labelled("test", TEST_LABELS.get(test, test))] if test else []
    reduction = _num(comparison.get("variance_reduction"))
    if reduction is not None:
        shown = pct(reduction, digits=2 if abs(reduction) < 0.01 else 1)
        parts.append(f"CUPED removed {_labelled('variance_reduction', shown)} of variance")
    return f'<span class="ci method">{", ".join(parts)}</span>' if parts else ""


def _scope_heading(name: str, scope: Mapping[str, Any]) -> str:
    """The row that opens a scope, with its traffic-split check: a segment whose split is off
    is flagged where its numbers are read."""
    srm_text, srm_css = srm_sentence(_map(scope.get("srm")))
    srm_label = {"good": "split OK", "bad": "split mismatch", "muted": ""}[srm_css]
    p = _num(_map(scope.get("srm")).get("p_value"))
    srm_cell = escape(srm_label)
    if srm_label and p is not None:
        shown = p_text(p)
        srm_cell += f" (p {'' if shown.startswith('<') else '= '}{_labelled('srm_p_value', shown)})"
    return (
        f'<tr class="scope"><th colspan="11">{escape(name)}'
        f'<span class="scope-srm {srm_css}" title="{escape(srm_text)}">{srm_cell}</span>'
        "</th></tr>"
    )


def _comparison_cells(comparison: Mapping[str, Any], metric: str) -> str:
    """The lifts with their intervals, the p-values (with the test behind them) and the chance
    to win of one comparison with control."""
    lifts = [
        (
            _labelled("absolute_lift", abs_lift(_num(comparison.get("absolute_lift")), metric)),
            _labelled_interval(_pair(comparison.get("absolute_ci")), "abs", "absolute", metric),
        ),
        (
            _labelled("relative_lift", pct(_num(comparison.get("relative_lift")), signed=True)),
            _labelled_interval(_pair(comparison.get("relative_ci")), "pct", "relative"),
        ),
    ]
    tests = [
        _labelled("p_value", p_text(_num(comparison.get("p_value")))) + _method_note(comparison),
        _labelled("p_value_adjusted", p_text(_num(comparison.get("p_value_adjusted")))),
        _labelled("chance_to_win", chance(_num(comparison.get("chance_to_win")))),
    ]
    cells = [f'<td>{lift}<br><span class="ci">({ci})</span></td>' for lift, ci in lifts]
    cells += [f"<td>{cell}</td>" for cell in tests]
    return "".join(cells)


def _scope_rows(
    name: str, scope: Mapping[str, Any], readout: ReadOut, segment: str | None = None
) -> str:
    """One scope's rows: the variants the results list, then any they compare but do not list,
    so a comparison is never dropped for want of its counts."""
    rows = [_scope_heading(name, scope)]
    comparisons = {_text(c.get("variant")): c for c in _maps(scope.get("comparisons"))}
    variants = _maps(scope.get("variants"))
    listed = {_text(v.get("variant")) for v in variants}
    variants += [{"variant": name} for name in comparisons if name not in listed]
    scope_attributes = (
        'data-scope="overall" data-segment=""'
        if segment is None
        else f'data-scope="segment" data-segment="{escape(segment)}"'
    )
    for variant in variants:
        variant_name = _text(variant.get("variant"))
        cells = [
            _labelled("units", count(_num(variant.get("units")))),
            _labelled("conversions", count(_num(variant.get("conversions")))),
            _labelled("value", metric_value(_num(variant.get("value")), readout.metric)),
            _labelled("revenue", money(_num(variant.get("revenue")))),
        ]
        tag = control_tag(variant_name, readout.control)
        row = (
            f'<tr {scope_attributes} data-variant="{escape(variant_name)}">'
            f'<td class="name">{escape(variant_name)}{tag}</td>'
            + "".join(f"<td>{cell}</td>" for cell in cells)
        )
        comparison = comparisons.get(variant_name)
        if comparison is None:
            baseline = "baseline" if variant_name == readout.control else MISSING
            row += f'<td class="muted verdict" colspan="6">{escape(baseline)}</td></tr>'
            rows.append(row)
            continue
        verdict, css = verdict_of(comparison, readout.alpha, readout.stopped)
        row += _comparison_cells(comparison, readout.metric)
        if variant_name in readout.holdouts:
            verdict, css = "baseline (no offers), not a competitor", "muted"
        rows.append(row + f'<td class="{css} verdict">{escape(verdict)}</td></tr>')
    return "".join(rows)


def table_section(results: Mapping[str, Any], readout: ReadOut) -> str:
    body = _scope_rows("All customers", _map(results.get("overall")), readout)
    for segment in _maps(results.get("segments")):
        label = _text(segment.get("segment"))
        body += _scope_rows(f"Segment: {label}", segment, readout, label)
    head = _TABLE_HEAD.format(
        metric=escape(metric_label(readout.metric).capitalize()), level=level(readout.alpha)
    )
    return (
        "<section><h2>All numbers</h2>"
        '<p class="note">Customers are counted once, in the segments they belonged to when first '
        "exposed. Verdicts use the adjusted p-value when there is one, because many comparisons "
        f"are made at once ({escape(correction(results))}). Chance to win: the probability the "
        "variant beats control.</p>"
        f'<div style="overflow-x:auto"><table>{head}<tbody>{body}</tbody></table></div>'
        "</section>"
    )
