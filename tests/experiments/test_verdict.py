"""Every rule of the decision framework, one branch at a time, on results-shaped documents."""

from __future__ import annotations

from typing import Any

import pytest

from experiments.verdict import comparison_decision, decide

SRM_OK = {"p_value": 0.41, "mismatch": False}


def _comparison(variant: str = "bandit", **numbers: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "variant": variant,
        "absolute_lift": 0.004,
        "absolute_ci": [-0.002, 0.010],
        "relative_lift": 0.10,
        "relative_ci": [-0.04, 0.26],
        "p_value": 0.20,
        "p_value_adjusted": 0.40,
        "error": None,
    }
    return {**base, **numbers}


def _results(*comparisons: dict[str, Any], **top: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "metric": "conversion_rate",
        "control": "rules",
        "alpha": 0.05,
        "srm": SRM_OK,
        "overall": {"comparisons": list(comparisons)},
        "power": {"minimum_detectable_effect_now": 0.08, "minimum_detectable_effect": 0.1},
        "guardrails": [],
    }
    document.update(top)
    return document


def _decide(comparison: dict[str, Any], **kwargs: Any) -> tuple[str, str]:
    options: dict[str, Any] = {
        "metric": "conversion_rate",
        "alpha": 0.05,
        "srm": SRM_OK,
        "detectable_now": 0.08,
        "planned": 0.1,
    }
    options.update(kwargs)
    return comparison_decision(comparison, **options)


def test_srm_mismatch_makes_every_result_invalid_first() -> None:
    winning = _comparison(p_value=0.0001, p_value_adjusted=0.0002)
    failing = [{"metric": "click_rate", "variant": "bandit", "verdict": "failing"}]
    decision, rule = _decide(
        winning, srm={"p_value": 0.00002, "mismatch": True}, guardrails=failing
    )
    assert decision == "invalid"
    assert "SRM" in rule
    assert "p < 0.001" in rule


def test_a_failing_guardrail_rolls_back_even_a_winner() -> None:
    winning = _comparison(p_value=0.0001, p_value_adjusted=0.0002)
    guardrails = [
        {
            "metric": "click_rate",
            "variant": "bandit",
            "verdict": "failing",
            "estimate": -0.11,
            "p_value": 0.028,
        }
    ]
    decision, rule = _decide(winning, guardrails=guardrails)
    assert decision == "roll_back"
    assert "guardrail harmed: click_rate (-11.0%, one-sided p = 0.028)" in rule


def test_a_significantly_worse_primary_rolls_back() -> None:
    losing = _comparison(relative_lift=-0.2, p_value=0.001, p_value_adjusted=0.003)
    decision, rule = _decide(losing)
    assert decision == "roll_back"
    assert "significantly worse: -20.0%, adjusted p = 0.003, below alpha 0.05" in rule


def test_a_significantly_better_primary_ships_and_names_guardrail_warnings() -> None:
    winning = _comparison(relative_lift=0.15, p_value=0.001, p_value_adjusted=0.004)
    decision, rule = _decide(winning)
    assert decision == "ship"
    assert "significantly better: +15.0%, adjusted p = 0.004, below alpha 0.05" in rule
    assert "no guardrail harmed" in rule
    warned = [{"metric": "click_rate", "variant": "bandit", "verdict": "warning"}]
    decision, rule = _decide(winning, guardrails=warned)
    assert decision == "ship"
    assert "guardrail warning, not significantly harmed: click_rate" in rule


def test_the_adjusted_p_value_decides_not_the_raw_one() -> None:
    # Significant alone, not after the family's correction: not a ship.
    comparison = _comparison(relative_lift=0.15, p_value=0.01, p_value_adjusted=0.09)
    assert _decide(comparison)[0] == "no_effect"
    # Without an adjusted p-value (a single comparison), the raw one decides.
    comparison = _comparison(relative_lift=0.15, p_value=0.01, p_value_adjusted=None)
    decision, rule = _decide(comparison)
    assert decision == "ship"
    assert "p = 0.01, below alpha" in rule


def test_not_significant_at_the_planned_power_is_no_effect() -> None:
    decision, rule = _decide(_comparison(), detectable_now=0.1, planned=0.1)
    assert decision == "no_effect"
    assert "detects a lift of 10.0% with 80% power, within the planned 10%" in rule


@pytest.mark.parametrize(
    ("detectable_now", "planned", "why"),
    [
        (0.25, 0.1, "detects only lifts of 25.0% or more, above the planned 10%"),
        (0.05, None, "declares no minimum detectable effect"),
        (None, 0.1, "detectable effect cannot be computed yet"),
    ],
)
def test_not_significant_and_under_powered_keeps_running(
    detectable_now: float | None, planned: float | None, why: str
) -> None:
    decision, rule = _decide(_comparison(), detectable_now=detectable_now, planned=planned)
    assert decision == "keep_running"
    assert why in rule
    assert "adjusted p = 0.4" in rule


def test_no_estimate_keeps_running_and_says_why() -> None:
    empty = _comparison(relative_lift=None, absolute_lift=None, p_value=None, error="ZERO_VARIANCE")
    decision, rule = _decide(empty)
    assert decision == "keep_running"
    assert "ZERO_VARIANCE" in rule


def test_the_holdout_is_the_baseline_and_the_programme_value_is_stated() -> None:
    bandit = _comparison("bandit", relative_lift=0.15, p_value=0.001, p_value_adjusted=0.004)
    # The holdout converts 50% worse than control: control is 100% better than the holdout.
    holdout = _comparison(
        "holdout",
        absolute_lift=-0.02,
        absolute_ci=[-0.03, -0.01],
        relative_lift=-0.5,
        relative_ci=[-0.6, -0.375],
        p_value=0.0001,
        p_value_adjusted=0.0003,
    )
    verdicts = decide(_results(bandit, holdout), {"holdout"}, planned=0.1)
    assert verdicts.comparisons["holdout"][0] == "baseline"
    assert "not a candidate to ship or roll back" in verdicts.comparisons["holdout"][1]
    assert verdicts.comparisons["bandit"][0] == "ship"
    assert (verdicts.decision, verdicts.variant) == ("ship", "bandit")
    assert verdicts.rule.startswith("ship bandit: primary metric conversion_rate")
    (programme,) = verdicts.programme
    assert (programme.holdout, programme.variant) == ("holdout", "rules")
    assert programme.relative == pytest.approx(1.0)
    assert programme.relative_ci == pytest.approx((0.6, 1.5))
    assert programme.absolute == pytest.approx(0.02)
    assert programme.absolute_ci == pytest.approx((0.01, 0.03))
    assert "rules over holdout (no offers): +100.0%, adjusted p < 0.001, significant" in (
        programme.rule
    )


def test_a_harmful_holdout_comparison_never_rolls_the_experiment_back() -> None:
    holdout = _comparison("holdout", relative_lift=-0.5, p_value=0.0001, p_value_adjusted=0.0003)
    guardrails = [{"metric": "click_rate", "variant": "holdout", "verdict": "failing"}]
    verdicts = decide(_results(_comparison(), holdout, guardrails=guardrails), {"holdout"})
    assert verdicts.comparisons["holdout"][0] == "baseline"
    assert verdicts.decision == "keep_running"


def test_a_holdout_control_makes_every_comparison_the_programme_value() -> None:
    bandit = _comparison("bandit", relative_lift=0.3, p_value=0.001, p_value_adjusted=0.002)
    results = _results(bandit, control="holdout")
    verdicts = decide(results, {"holdout"}, planned=0.1)
    assert verdicts.comparisons["bandit"][0] == "ship"
    (programme,) = verdicts.programme
    assert (programme.holdout, programme.variant, programme.relative) == ("holdout", "bandit", 0.3)


def test_the_experiment_decision_aggregates_its_variants() -> None:
    ship = _comparison("a", relative_lift=0.15, p_value=0.001, p_value_adjusted=0.004)
    better_ship = _comparison("b", relative_lift=0.25, p_value=0.0001, p_value_adjusted=0.0004)
    harm = _comparison("c", relative_lift=-0.3, p_value=0.0001, p_value_adjusted=0.0004)
    running = _comparison("d", relative_lift=0.02)
    null = _comparison("e", relative_lift=0.01)
    power = {"minimum_detectable_effect_now": 0.08}

    def top(*comparisons: dict[str, Any], planned: float | None = 0.1) -> tuple[Any, Any]:
        verdicts = decide(_results(*comparisons, power=power), set(), planned=planned)
        return verdicts.decision, verdicts.variant

    # A winner ships (the larger of two), whatever the other arms did.
    assert top(ship, better_ship, harm) == ("ship", "b")
    # No winner: a harmful arm is rolled back now rather than left running.
    assert top(harm, running, planned=None) == ("roll_back", "c")
    # Any arm still short of its power keeps the experiment running.
    assert top(running, planned=None) == ("keep_running", "d")
    # Every arm settled without an effect: stop, no effect at the planned power.
    assert top(running, null) == ("no_effect", None)
    # A broken split invalidates the experiment, not one arm.
    srm = {"p_value": 1e-6, "mismatch": True}
    verdicts = decide(_results(ship, harm, srm=srm), set(), planned=0.1)
    assert (verdicts.decision, verdicts.variant) == ("invalid", None)
    assert verdicts.rule.startswith("do not trust the results: SRM")


def test_no_comparison_yet_keeps_running() -> None:
    verdicts = decide(_results(), {"holdout"}, planned=0.1)
    assert verdicts.decision == "keep_running"
    assert verdicts.variant is None
    assert "no comparison with control" in verdicts.rule
