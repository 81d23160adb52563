"""What the numbers mean, in sentences: verdicts, decisions, headlines, the traffic-split check
and what the sample size allows.

Every verdict uses one rule (:func:`is_significant`): the multiplicity-adjusted p-value when
the results carry one, else the raw p-value, against the experiment's alpha, so no two parts
of the page can disagree about what is "significant". Decisions are the ones the results carry
(``experiments.verdict``), never re-derived here. Sentences that embed input are escaped here
(:func:`headline` returns HTML); the others are plain text, escaped where they are placed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from experiments._reading import mapping as _map
from experiments._reading import mappings as _maps
from experiments._reading import number as _num
from experiments._reading import pair as _pair
from experiments._reading import text as _text
from experiments.report.formatting import (
    day_label,
    escape,
    interval,
    level,
    metric_label,
    p_is,
    p_text,
    pct,
)


def _decisive_p(comparison: Mapping[str, Any]) -> float | None:
    """The p-value verdicts are based on: adjusted when available, because the report shows
    many comparisons at once and the raw p-values would overstate what was found."""
    adjusted = _num(comparison.get("p_value_adjusted"))
    return adjusted if adjusted is not None else _num(comparison.get("p_value"))


def _direction(comparison: Mapping[str, Any]) -> float | None:
    relative = _num(comparison.get("relative_lift"))
    return relative if relative is not None else _num(comparison.get("absolute_lift"))


def is_significant(comparison: Mapping[str, Any], alpha: float) -> bool | None:
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


def verdict_of(comparison: Mapping[str, Any], alpha: float, stopped: bool) -> tuple[str, str]:
    """A short verdict and its CSS class."""
    significant = is_significant(comparison, alpha)
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


def decision_of(document: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The decision the results carry (label, CSS class, rule), or None when they carry none
    (results of a secondary metric, or documents from before decisions existed)."""
    found = _DECISIONS.get(_text(document.get("decision")))
    if found is None:
        return None
    return found[0], found[1], _text(document.get("decision_rule"))


def headline(
    comparison: Mapping[str, Any], control: str, metric: str, alpha: float, stopped: bool
) -> tuple[str, str]:
    """The sentence a marketer reads first (HTML, already escaped) and its CSS class."""
    variant = f"<strong>{escape(comparison.get('variant'))}</strong>"
    baseline = f"<strong>{escape(control)}</strong>"
    relative = _num(comparison.get("relative_lift"))
    verdict, css = verdict_of(comparison, alpha, stopped)
    if relative is None:
        reason = escape(_reason(comparison))
        return f"{variant}: no estimate against {baseline} yet: {reason}.", "muted"
    size = pct(abs(relative))
    up = relative >= 0
    if metric == "conversion_rate":
        claim = f"converts {size} {'better' if up else 'worse'} than"
    elif metric == "click_rate":
        claim = f"gets {size} {'more' if up else 'fewer'} clicks than"
    elif metric == "revenue_per_unit":
        claim = f"earns {size} {'more' if up else 'less'} revenue per customer than"
    else:
        claim = f"has a {size} {'higher' if up else 'lower'} {escape(metric_label(metric))} than"
    parts = [f"{variant} {claim} {baseline}"]
    ci = _pair(comparison.get("relative_ci"))
    if ci[0] is not None and ci[1] is not None:
        parts.append(f" ({level(alpha)} interval {escape(interval(ci, 'pct'))})")
    p = _num(comparison.get("p_value"))
    adjusted = _num(comparison.get("p_value_adjusted"))
    if p is not None:
        parts.append(f", {escape(p_is(p))}")
        if adjusted is not None and adjusted != p:
            parts.append(f" (adjusted {escape(p_text(adjusted))})")
    closing = "significant" if verdict.startswith("significantly") else verdict
    parts.append(f" \u2014 {escape(closing)}")
    sentence = "".join(parts) + "."
    decided = decision_of(comparison)
    if decided is not None:
        sentence += f" Decision: <strong>{escape(decided[0])}</strong>."
        css = decided[1]
    return sentence, css


def correction(results: Mapping[str, Any]) -> str:
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


def srm_sentence(srm: Mapping[str, Any]) -> tuple[str, str]:
    p = _num(srm.get("p_value"))
    mismatch = srm.get("mismatch")
    if mismatch is True:
        return (
            f"Sample ratio mismatch ({p_is(p)}): customers did not arrive in the planned "
            "proportions, so assignment or tracking is broken and the results may be biased. "
            "Fix this before trusting any number below.",
            "bad",
        )
    if mismatch is False:
        return (
            f"Traffic split OK ({p_is(p)}): customers arrived in the planned proportions.",
            "good",
        )
    return "Traffic split not checked yet.", "muted"


def _whole_experiment(
    more: float, weights: Mapping[str, float | None], pair: tuple[str, str]
) -> str:
    """The customers the whole experiment needs when ``more`` are needed in the pair of arms
    sized: the other arms take their planned share of traffic too."""
    share = sum(w for name, w in weights.items() if name in pair and w)
    total = sum(w for w in weights.values() if w)
    if len(weights) > 2 and 0 < share < total:
        return f" (about {math.ceil(more * total / share):,} more in the whole experiment)"
    return ""


def _by_when(days: float | None, now: datetime) -> str:
    if days is None:
        return ": no date can be projected, as there is no daily traffic yet."
    when = now + timedelta(days=days)
    return (
        f": about {math.ceil(days):,} more day{'' if math.ceil(days) == 1 else 's'} "
        f"at current traffic, around {day_label(when.date())}."
    )


def power_sentences(
    power: Mapping[str, Any], experiment: Mapping[str, Any], control: str, now: datetime
) -> list[tuple[str, str]]:
    """What the sample size allows now, what the planned lift needs and by when, or why not.

    The results size one comparison, control against the first other variant (as
    ``experiments.results`` does), and count the customers of those two arms; the other arms take
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
                f"{pct(now_mde, digits=1)} or more (80% power).",
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
    planned = f"the planned {pct(target)} lift"
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
    text = f"To detect {planned}, {pair} need about {math.ceil(more):,} more customers between them"
    text += _whole_experiment(more, weights, (control, variant))
    text += _by_when(days, now)
    sentences.append((text, "muted"))
    return sentences
