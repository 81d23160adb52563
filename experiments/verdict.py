"""Decisions with the rule that produced them, from the numbers of a results document.

An analyst signs a decision, not a p-value, and two analysts reading the same numbers must
reach the same one; so the rule is written down once, here, and every decision carries the
sentence of the rule that fired with the numbers it used. The rules follow Spotify's
risk-aware decision rule (Schultzberg, Ankargren & Frånberg, 2024, "Risk-aware product
decisions in A/B tests with multiple metrics": ship if and only if a success metric improved
significantly and no guardrail is harmed; a metric that deteriorates significantly stops the
change) and GrowthBook's Experiment Decision Framework (a result that is not significant is a
decision only once the test can detect the target minimum detectable effect; before that,
keep running). In order, the first that applies wins, per comparison with control:

1. ``invalid``: the traffic split fails the SRM check, so no number can be trusted;
2. ``roll_back``: a guardrail of this variant is ``failing`` (significantly harmed);
3. ``roll_back``: the primary metric is significantly worse (adjusted p-value < alpha);
4. ``ship``: the primary metric is significantly better (adjusted p-value < alpha);
5. ``no_effect``: not significant, and the detectable effect now is at most the planned one;
6. ``keep_running``: otherwise (not significant and under-powered, or no estimate yet).

A holdout (a variant that gets no offers) is the baseline of what the programme adds, never a
candidate to ship or roll back: its comparison is marked ``baseline`` and the programme's
incremental value over it is stated instead.

Pure: a results document in, decisions out; nothing from ``engine`` or ``api``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from experiments._reading import number as _num
from experiments._reading import pair as _pair

__all__ = [
    "DECISIONS",
    "Decision",
    "Programme",
    "Verdicts",
    "annotate",
    "comparison_decision",
    "decide",
]

Decision = Literal["invalid", "roll_back", "ship", "no_effect", "keep_running", "baseline"]
DECISIONS: Final[tuple[Decision, ...]] = (
    "invalid",
    "roll_back",
    "ship",
    "no_effect",
    "keep_running",
    "baseline",
)
# Which variant's decision speaks for the experiment: a broken split first, then a winner to
# ship, then harm to stop, then a test still short of its power, then a settled null.
_PRIORITY: Final[Mapping[str, int]] = {
    "invalid": 0,
    "ship": 1,
    "roll_back": 2,
    "keep_running": 3,
    "no_effect": 4,
}


@dataclass(frozen=True, slots=True)
class Programme:
    """What the programme (control) adds over one holdout, from their comparison."""

    holdout: str
    variant: str
    absolute: float | None
    absolute_ci: tuple[float | None, float | None]
    relative: float | None
    relative_ci: tuple[float | None, float | None]
    p_value: float | None
    rule: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded to 8 digits as the rest of a results document."""
        return {
            "holdout": self.holdout,
            "variant": self.variant,
            "incremental_absolute": _round(self.absolute),
            "incremental_absolute_ci": [_round(x) for x in self.absolute_ci],
            "incremental_relative": _round(self.relative),
            "incremental_relative_ci": [_round(x) for x in self.relative_ci],
            "p_value": self.p_value,
            "rule": self.rule,
        }


@dataclass(frozen=True, slots=True)
class Verdicts:
    """Per comparison (variant -> decision and rule), for the experiment, and the programme."""

    comparisons: Mapping[str, tuple[Decision, str]]
    decision: Decision
    variant: str | None
    rule: str
    programme: Sequence[Programme]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 8)


def _pct(value: float) -> str:
    return f"{value * 100:+.1f}%"


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"= {value:.3g}"


def _decisive(comparison: Mapping[str, Any]) -> tuple[float | None, str]:
    """The p-value decisions use and its name: adjusted for the family when the results carry
    one, because a decision read off one of many comparisons must pay for the others."""
    adjusted = _num(comparison.get("p_value_adjusted"))
    if adjusted is not None:
        return adjusted, "adjusted p"
    return _num(comparison.get("p_value")), "p"


def comparison_decision(
    comparison: Mapping[str, Any],
    *,
    metric: str,
    alpha: float,
    srm: Mapping[str, Any],
    guardrails: Sequence[Mapping[str, Any]] = (),
    detectable_now: float | None = None,
    planned: float | None = None,
) -> tuple[Decision, str]:
    """The decision on one variant against control and the rule that produced it.

    ``guardrails`` are this variant's guardrail entries of the results (``verdict`` ok,
    warning or failing); ``detectable_now`` the relative lift the test detects with 80% power
    at the current sample, ``planned`` the experiment's minimum detectable effect.
    """
    if srm.get("mismatch") is True:
        p_srm = _num(srm.get("p_value"))
        shown = f" (chi-square p {_p(p_srm)})" if p_srm is not None else ""
        return "invalid", (
            f"SRM: the traffic split does not match the planned weights{shown}, so the "
            "assignment is broken and no result can be trusted"
        )
    failing = [g for g in guardrails if g.get("verdict") == "failing"]
    if failing:
        parts = []
        for g in failing:
            estimate, p_g = _num(g.get("estimate")), _num(g.get("p_value"))
            numbers = ", ".join(
                ([_pct(estimate)] if estimate is not None else [])
                + ([f"one-sided p {_p(p_g)}"] if p_g is not None else [])
            )
            parts.append(f"{g.get('metric')}" + (f" ({numbers})" if numbers else ""))
        return "roll_back", (
            f"guardrail harmed: {', '.join(parts)} significantly worse than control at "
            f"alpha {alpha:g}"
        )
    p, p_name = _decisive(comparison)
    lift = _num(comparison.get("relative_lift"))
    if lift is None:
        lift = _num(comparison.get("absolute_lift"))
    if p is None or lift is None:
        reason = comparison.get("error") or "no estimate"
        return "keep_running", f"no estimate of {metric} yet ({reason}): keep collecting data"
    warnings = [str(g.get("metric")) for g in guardrails if g.get("verdict") == "warning"]
    if p < alpha and lift < 0:
        return "roll_back", (
            f"primary metric {metric} significantly worse: {_pct(lift)}, {p_name} {_p(p)}, "
            f"below alpha {alpha:g}"
        )
    if p < alpha and lift > 0:
        caveat = (
            f"; guardrail warning, not significantly harmed: {', '.join(warnings)}"
            if warnings
            else "; no guardrail harmed"
        )
        return "ship", (
            f"primary metric {metric} significantly better: {_pct(lift)}, {p_name} {_p(p)}, "
            f"below alpha {alpha:g}{caveat}"
        )
    if planned is not None and detectable_now is not None and abs(detectable_now) <= planned:
        return "no_effect", (
            f"{metric} not significant ({p_name} {_p(p)} >= alpha {alpha:g}) although the test "
            f"now detects a lift of {abs(detectable_now) * 100:.1f}% with 80% power, within the "
            f"planned {planned * 100:g}%: no effect of the planned size"
        )
    if planned is None:
        why = "the experiment declares no minimum detectable effect to reach"
    elif detectable_now is None:
        why = "the detectable effect cannot be computed yet"
    else:
        why = (
            f"the test detects only lifts of {abs(detectable_now) * 100:.1f}% or more, above "
            f"the planned {planned * 100:g}%"
        )
    return "keep_running", f"{metric} not significant ({p_name} {_p(p)}) and {why}"


def _invert(pair: tuple[float | None, float | None]) -> tuple[float | None, float | None]:
    """An interval for c / h - 1 from one for h / c - 1: the map is decreasing above -1."""
    low, high = pair
    if low is None or high is None or high <= -1.0:
        return None, None
    return 1.0 / (1.0 + high) - 1.0, (1.0 / (1.0 + low) - 1.0 if low > -1.0 else None)


def _programme(
    comparison: Mapping[str, Any], holdout: str, variant: str, inverted: bool, alpha: float
) -> Programme:
    """``variant`` over ``holdout``; ``inverted`` when the comparison is the holdout's against
    control (then the lift is turned around: control over holdout, not holdout over control)."""
    absolute = _num(comparison.get("absolute_lift"))
    abs_low, abs_high = _pair(comparison.get("absolute_ci"))
    relative = _num(comparison.get("relative_lift"))
    rel_ci = _pair(comparison.get("relative_ci"))
    if inverted:
        absolute = -absolute if absolute is not None else None
        abs_low, abs_high = (
            -abs_high if abs_high is not None else None,
            -abs_low if abs_low is not None else None,
        )
        relative = 1.0 / (1.0 + relative) - 1.0 if relative is not None and relative > -1 else None
        rel_ci = _invert(rel_ci)
        if relative is None:
            # a holdout at zero: only the lower end, from the 1/2-adjusted counts, bounds the
            # ratio; an upper end would be an artefact of the adjustment
            rel_ci = (rel_ci[0], None)
    p, p_name = _decisive(comparison)
    if relative is not None:
        size = _pct(relative)
    elif absolute is not None:
        # a holdout at zero has no relative lift to state; the difference still stands
        size = f"{absolute:+.4g} absolute ({holdout}'s value is zero)"
    if p is None or (relative is None and absolute is None):
        rule = f"no estimate of what {variant} adds over {holdout} yet"
    else:
        verdict = "significant" if p < alpha else "not significant"
        rule = (
            f"{variant} over {holdout} (no offers): {size}, {p_name} {_p(p)}, "
            f"{verdict} at alpha {alpha:g}: the programme's incremental value, not a decision"
        )
    return Programme(holdout, variant, absolute, (abs_low, abs_high), relative, rel_ci, p, rule)


def decide(
    results: Mapping[str, Any],
    holdouts: Collection[str],
    *,
    planned: float | None = None,
) -> Verdicts:
    """Decisions on every overall comparison of ``results`` and on the experiment.

    ``results`` is a results document of the primary metric (``metric``, ``alpha``, ``srm``,
    ``overall.comparisons``, ``guardrails``, ``power``); ``holdouts`` names the variants that
    get no offers; ``planned`` is the experiment's minimum detectable effect.

    The detectable effect now comes from the results' power block, which sizes control
    against one variant at control's sample size; comparisons with arms of other sizes share
    it, an approximation stated in docs/experiments.md.
    """
    metric = str(results.get("metric") or "the primary metric")
    alpha = _num(results.get("alpha")) or 0.05
    control = str(results.get("control") or "")
    srm = results.get("srm")
    srm = srm if isinstance(srm, Mapping) else {}
    power = results.get("power")
    power = power if isinstance(power, Mapping) else {}
    detectable_now = _num(power.get("minimum_detectable_effect_now"))
    overall = results.get("overall")
    comparisons = overall.get("comparisons") if isinstance(overall, Mapping) else None
    guardrails = [g for g in results.get("guardrails") or [] if isinstance(g, Mapping)]
    decisions: dict[str, tuple[Decision, str]] = {}
    programme: list[Programme] = []
    for comparison in comparisons or []:
        if not isinstance(comparison, Mapping):
            continue
        variant = str(comparison.get("variant"))
        if variant in holdouts:
            decisions[variant] = (
                "baseline",
                f"holdout: gets no offers, so it is the baseline of what the programme adds, "
                f"not a candidate to ship or roll back; {control} over {variant} is stated as "
                "the programme's incremental value",
            )
            programme.append(_programme(comparison, variant, control, True, alpha))
            continue
        decisions[variant] = comparison_decision(
            comparison,
            metric=metric,
            alpha=alpha,
            srm=srm,
            guardrails=[g for g in guardrails if g.get("variant") == variant],
            detectable_now=detectable_now,
            planned=planned,
        )
        if control in holdouts:
            programme.append(_programme(comparison, control, variant, False, alpha))
    candidates = [(v, d) for v, d in decisions.items() if d[0] != "baseline"]
    if not candidates:
        return Verdicts(
            decisions,
            "keep_running",
            None,
            "no variant to decide on yet: no comparison with control",
            programme,
        )
    lifts = {
        str(c.get("variant")): _num(c.get("relative_lift")) or 0.0
        for c in comparisons or []
        if isinstance(c, Mapping)
    }
    best, (decision, rule) = min(
        candidates, key=lambda item: (_PRIORITY[item[1][0]], -lifts.get(item[0], 0.0))
    )
    summary = {
        "ship": f"ship {best}",
        "roll_back": f"roll back {best}",
        "invalid": "do not trust the results",
        "keep_running": "keep running",
        "no_effect": "stop: no effect at the planned power",
    }[decision]
    # every variant has these (SRM is the experiment's; no_effect is last in priority), so
    # the decision is then about the experiment, not one variant
    about = None if decision in ("no_effect", "invalid") and len(candidates) > 1 else best
    return Verdicts(decisions, decision, about, f"{summary}: {rule}", programme)


def annotate(
    document: dict[str, Any],
    holdouts: Collection[str],
    *,
    primary: str,
    planned: float | None = None,
) -> None:
    """Write the decisions into a results document: ``decision`` and ``decision_rule`` on each
    overall comparison; ``decision``, ``decision_variant``, ``decision_rule`` and ``programme``
    at the top.

    Decisions are made on the ``primary`` metric only (the one the minimum detectable effect
    is planned for); a document of another metric says so instead of deciding on it, because
    a "ship" read off a secondary metric is the multiple-metrics trap the rule avoids.
    """
    comparisons = [c for c in document["overall"]["comparisons"] if isinstance(c, dict)]
    if document.get("metric") != primary:
        metric = document.get("metric")
        rule = f"decisions are made on the primary metric {primary}; {metric} informs them"
        for comparison in comparisons:
            comparison["decision"] = None
            comparison["decision_rule"] = rule
        document.update(decision=None, decision_variant=None, decision_rule=rule, programme=[])
        return
    verdicts = decide(document, holdouts, planned=planned)
    for comparison in comparisons:
        comparison["decision"], comparison["decision_rule"] = verdicts.comparisons[
            str(comparison["variant"])
        ]
    document["decision"] = verdicts.decision
    document["decision_variant"] = verdicts.variant
    document["decision_rule"] = verdicts.rule
    document["programme"] = [p.to_dict() for p in verdicts.programme]
