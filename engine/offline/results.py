"""Experiment results: cells read once, added up, and handed to the statistics package.

Shape: ARCHITECTURE.md, "Beside the loop" (``GET /v1/experiments/{id}/results``), plus ``daily``
(cumulative value per variant per day, for the report's chart) and ``power``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from engine.domain.profiles import ACTIVITY_TYPES
from engine.errors import ValidationFailed
from engine.learning.policies import ModelSnapshot
from engine.offline.evaluation import evaluate, load_decision_log, model_candidate
from engine.offline.export import export_rows
from engine.store.ports import OfflinePort
from experiments import Experiment
from experiments.cells import ALL
from experiments.stats import (
    Baseline,
    BayesianConfig,
    FrequentistConfig,
    GuardrailConfig,
    MultipleTestingConfig,
    PowerConfig,
    ProportionStats,
    RegressionAdjustedStats,
    SampleStats,
    SequentialConfig,
    SrmConfig,
    adjust_p_values,
    bayesian_test,
    days_to_significance,
    guardrail_verdict,
    minimum_detectable_effect,
    regression_adjustment,
    sequential_test,
    srm_check,
    two_proportion_z_test,
    welch_t_test,
)
from experiments.stats._frequentist import min_expected_count
from experiments.verdict import annotate

__all__ = ["METRICS", "adaptive_estimates", "experiment_results"]

METRICS = ("conversion_rate", "click_rate", "revenue_per_unit")
# every metric a results query may name, for the API's schema
METRIC_PATTERN = f"^({'|'.join(METRICS)}|activity:({'|'.join(ACTIVITY_TYPES)}))$"


def _finite(value: float) -> float | None:
    return round(value, 8) if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class Covariate:
    """A metric's pre-exposure covariate and the cell statistics CUPED reads for it.

    ``sums`` names the cells holding sum y, sum y^2, sum x, sum x^2 and sum xy per variant x
    segment. A 0/1 value is its own square, so a conversion and its pre-period indicator
    (the unit bought in the 90 days before first exposure) need only their counts and the
    count of units with both. A rate falls back to the proportion tests where the adjustment
    cannot help or the exact test is due (``cuped_skipped`` says why).
    """

    name: str
    sums: tuple[str, str, str, str, str]


COVARIATES: dict[str, Covariate] = {
    "revenue_per_unit": Covariate("pre_period_revenue", ("rev", "rev2", "pre", "pre2", "xy")),
    "conversion_rate": Covariate("pre_period_conversion", ("conv", "conv", "prec", "prec", "xc")),
}


def _stats(cell: Mapping[str, float], metric: str, cuped: bool) -> Any:
    n = int(cell.get("units", 0))
    covariate = COVARIATES.get(metric)
    if cuped and covariate is not None:
        y, y2, x, x2, xy = (cell.get(stat, 0.0) for stat in covariate.sums)
        return RegressionAdjustedStats(
            n=n, sum=y, sum_squares=y2, pre_sum=x, pre_sum_squares=x2, sum_products=xy
        )
    if metric == "revenue_per_unit":
        return SampleStats(n=n, sum=cell.get("rev", 0.0), sum_squares=cell.get("rev2", 0.0))
    return ProportionStats(n=n, sum=cell.get(_count_stat(metric), 0.0))


def _arms(
    control: Mapping[str, float], treatment: Mapping[str, float], metric: str
) -> tuple[Any, Any, dict[str, Any]]:
    """Both arms' statistics, CUPED-adjusted where the metric has a covariate, and what the
    adjustment did: ``covariate``, ``theta`` and ``variance_reduction`` (the share of the
    difference's sampling variance removed, which is also the share of units saved for the
    same power), or ``cuped_skipped`` with why the metric was left unadjusted."""
    plain_c, plain_t = _stats(control, metric, False), _stats(treatment, metric, False)
    covariate = COVARIATES.get(metric)
    if covariate is None:
        return plain_c, plain_t, {}
    c, t = _stats(control, metric, True), _stats(treatment, metric, True)
    skipped = (
        _cuped_skipped(plain_c, plain_t, c + t)
        if isinstance(plain_c, ProportionStats) and isinstance(plain_t, ProportionStats)
        else None
    )
    if skipped is not None:
        unadjusted = {"covariate": None, "theta": None, "variance_reduction": None}
        return plain_c, plain_t, {**unadjusted, "cuped_skipped": skipped}
    adjustment = regression_adjustment(c, t)
    return (
        c,
        t,
        {
            "covariate": covariate.name,
            "theta": _finite(adjustment.theta),
            "variance_reduction": _finite(adjustment.variance_reduction),
            "cuped_skipped": None,
        },
    )


def _cuped_skipped(
    control: ProportionStats, treatment: ProportionStats, joint: RegressionAdjustedStats
) -> str | None:
    # A rate keeps the proportion tests where CUPED adds nothing (no unit differs from another
    # in the covariate, or an arm where every unit is alike: a holdout nobody converts in,
    # whose adjusted mean -theta x-bar would put its relative lift below -100%) or where they
    # are the better test: with few expected conversions Fisher's exact test gives the
    # p-value, and it takes no covariate. Revenue keeps CUPED throughout: Welch's test needs
    # no count, and a relative lift the adjustment pushes past -100% is held there (the
    # results' tests are ``nonnegative``).
    if control.n < 2 or treatment.n < 2:
        return "too_few_units"
    if not joint.pre.variance > 0.0:
        return "no_covariate_variance"
    if not (control.variance > 0.0 and treatment.variance > 0.0):
        return "arm_without_variance"
    if min_expected_count(control, treatment) < FrequentistConfig().exact_below:
        return "small_sample"
    return None


def _count_stat(metric: str) -> str:
    """The unit-level count behind a rate metric."""
    if metric.startswith("activity:"):
        return "a:" + metric.removeprefix("activity:")
    return "conv" if metric == "conversion_rate" else "click"


def _value(cell: Mapping[str, float], metric: str) -> float:
    n = cell.get("units", 0.0)
    if not n:
        return float("nan")
    if metric == "revenue_per_unit":
        return cell.get("rev", 0.0) / n
    return cell.get(_count_stat(metric), 0.0) / n


def _compare(
    control: Mapping[str, float],
    treatment: Mapping[str, float],
    metric: str,
    experiment: Experiment,
) -> dict[str, Any]:
    c, t, adjustment = _arms(control, treatment, metric)
    out: dict[str, Any] = {}
    for difference in ("absolute", "relative"):
        if experiment.analysis == "sequential":
            result = sequential_test(
                c, t, SequentialConfig(alpha=experiment.alpha, difference=difference)
            )
        else:
            # every metric here is a rate, a count or revenue: none can be negative
            fixed = FrequentistConfig(experiment.alpha, difference=difference, nonnegative=True)
            test = two_proportion_z_test if isinstance(c, ProportionStats) else welch_t_test
            result = test(c, t, fixed)
        out[f"{difference}_lift"] = _finite(result.estimate)
        out[f"{difference}_ci"] = [_finite(result.ci[0]), _finite(result.ci[1])]
        if difference == "relative":
            out["p_value"] = _finite(result.p_value)
            out["error"] = result.error
            # Which test gave the p-value and how the relative interval was built, so an
            # analyst can reproduce both (see FrequentistResult.test / interval_method).
            out["test"] = result.test
            out["relative_interval_method"] = result.interval_method
    bayes = bayesian_test(c, t, BayesianConfig(alpha=experiment.alpha, difference="relative"))
    out["chance_to_win"] = _finite(bayes.chance_to_win)
    out.update(adjustment)
    return out


def _p_value(
    control: Mapping[str, float],
    treatment: Mapping[str, float],
    metric: str,
    experiment: Experiment,
) -> float | None:
    """The p-value :func:`_compare` reports (relative lift), without its other numbers.

    Every comparison of every other reported metric joins the multiple-testing family, and
    only its p-value counts there; computing the rest tripled the cost of a results query.
    """
    c, t, _ = _arms(control, treatment, metric)
    if experiment.analysis == "sequential":
        config = SequentialConfig(alpha=experiment.alpha, difference="relative")
        return _finite(sequential_test(c, t, config).p_value)
    frequentist = FrequentistConfig(alpha=experiment.alpha, difference="relative", nonnegative=True)
    test = two_proportion_z_test if isinstance(c, ProportionStats) else welch_t_test
    return _finite(test(c, t, frequentist).p_value)


def _cells(
    raw: Mapping[str, str], phase: int
) -> Iterator[tuple[tuple[str, str, str], dict[str, float]]]:
    """((variant, segment, day), {stat: sum}) of one phase, as ``parse_cells`` gives them.

    The same cells in the same order (so sums add up in the same order), in about half the
    time: with days the experiment ran x segments x variants x 10 statistics, a results query
    reads thousands of fields.
    """
    prefix = f"{phase}|"
    cells: dict[str, dict[str, float]] = {}
    for name, value in raw.items():
        if name.startswith(prefix):
            head, _, stat = name.rpartition("|")
            cell = cells.get(head)
            if cell is None:
                cells[head] = cell = {}
            cell[stat] = float(value)
    for head, stats in cells.items():
        _, variant, segment, day = head.split("|")
        yield (variant, segment, day), stats


async def adaptive_estimates(
    store: OfflinePort, experiment_id: str, experiment: Experiment, alpha: float
) -> list[dict[str, Any]]:
    """Bandit variants, measured honestly: each bandit variant's current model evaluated on
    that variant's own logged decisions by inverse propensity weighting (IPS and SNIPS) with the
    propensities logged at decision time, overall and per segment. Unlike the running average
    of an adaptive variant, this estimates what the policy as it is now would earn, whatever
    allocation the earlier, exploring versions made."""
    rows = [
        row
        async for row in export_rows(store)
        if row.get("experiment") == experiment_id and row["position"] == 1
    ]
    out: list[dict[str, Any]] = []
    for variant in experiment.variants:
        if variant.treatment.policy != "bandit":
            continue
        mine = [r for r in rows if r.get("variant") == variant.id]
        if len(mine) < 2:
            out.append({"variant": variant.id, "error": "too_few_closed_decisions", "n": len(mine)})
            continue
        log = load_decision_log(orjson.dumps(r) for r in mine)
        scope = mine[-1].get("scope") or ""
        found = await store.read_snapshot(scope)
        if found is None:
            out.append({"variant": variant.id, "error": "no_model_yet", "n": len(mine)})
            continue
        snapshot = ModelSnapshot.from_bytes(found[1])
        try:
            target = model_candidate(snapshot, snapshot.policy.epsilon)(log)
        except ValueError as exc:
            out.append({"variant": variant.id, "error": str(exc), "n": len(mine)})
            continue
        report = evaluate(
            log, {"current": target}, estimators=("ips", "snips"), by_segment=True, alpha=alpha
        )
        for block in (report.overall, *report.segments):
            out.append(
                {
                    "variant": variant.id,
                    "segment": block.segment or "all",
                    "n": block.n,
                    "model_version": snapshot.version,
                    "logged": block.logged.to_dict(),
                    "ips": block.estimates["current"]["ips"].to_dict(),
                    "snips": block.estimates["current"]["snips"].to_dict(),
                }
            )
    return out


async def experiment_results(
    store: OfflinePort,
    experiment_id: str,
    experiment: Experiment,
    metric: str | None = None,
    by_segment: bool = True,
    correction: Literal["holm", "bh"] = "holm",
) -> dict[str, Any]:
    metric = metric or experiment.primary_metric
    activity = metric.startswith("activity:") and metric[len("activity:") :] in ACTIVITY_TYPES
    if metric not in METRICS and not activity:
        raise ValidationFailed(
            f"metric must be one of {', '.join(METRICS)} or activity:<type> with a type among "
            f"{', '.join(ACTIVITY_TYPES)}; got '{metric}'",
            field="metric",
        )
    raw = await store.read_experiment_cells(experiment_id)
    by_variant_segment: dict[tuple[str, str], dict[str, float]] = defaultdict(
        lambda: defaultdict(float)
    )
    days: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (variant, segment, day), stats in _cells(raw, experiment.phase):
        totals = by_variant_segment[(variant, segment)]
        for stat, amount in stats.items():
            totals[stat] += amount
        if segment == ALL:
            daily_totals = days[(variant, day)]
            for stat, amount in stats.items():
                daily_totals[stat] += amount
    variants = [v.id for v in experiment.variants]
    weights = [v.weight for v in experiment.variants]
    control = experiment.control
    segments = sorted({s for (_, s) in by_variant_segment if s != ALL}) if by_segment else []

    def block(segment: str) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        for variant in variants:
            cell = by_variant_segment.get((variant, segment), {})
            rows.append(
                {
                    "variant": variant,
                    "units": int(cell.get("units", 0)),
                    "conversions": int(cell.get("conv", 0)),
                    "clicks": int(cell.get("click", 0)),
                    "value": _finite(_value(cell, metric)),
                    "revenue": round(cell.get("rev", 0.0), 2),
                }
            )
        comparisons = [
            {
                "variant": variant,
                **_compare(
                    by_variant_segment.get((control, segment), {}),
                    by_variant_segment.get((variant, segment), {}),
                    metric,
                    experiment,
                ),
            }
            for variant in variants
            if variant != control
        ]
        srm = srm_check([int(row["units"]) for row in rows], weights, SrmConfig())
        return {
            "variants": rows,
            "comparisons": comparisons,
            "srm": {"p_value": _finite(srm.p_value), "mismatch": bool(srm.mismatch)},
        }

    overall = block(ALL)
    segment_blocks = [{"segment": s, **block(s)} for s in segments]
    # One family: every segment x comparison of every metric the experiment reports
    # (primary and secondary), so a "winner" found by slicing is adjusted for the slicing.
    tests = [
        c for b in (overall, *segment_blocks) for c in b["comparisons"] if c["p_value"] is not None
    ]
    others: list[float] = []
    for other in dict.fromkeys([experiment.primary_metric, *experiment.secondary_metrics]):
        if other == metric:
            continue
        for segment in [ALL, *segments]:
            for variant in variants:
                if variant == control:
                    continue
                p_other = _p_value(
                    by_variant_segment.get((control, segment), {}),
                    by_variant_segment.get((variant, segment), {}),
                    other,
                    experiment,
                )
                if p_other is not None:
                    others.append(p_other)
    if tests:
        family = [c["p_value"] for c in tests] + others
        adjusted = adjust_p_values(family, MultipleTestingConfig(method=correction))
        for comparison, p in zip(tests, adjusted.adjusted[: len(tests)], strict=True):
            comparison["p_value_adjusted"] = _finite(p)
    daily = []
    running: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for variant, day in sorted(days, key=lambda k: (k[1], k[0])):
        for stat, amount in days[(variant, day)].items():
            running[variant][stat] += amount
        daily.append(
            {
                "day": day,
                "variant": variant,
                "units": int(running[variant]["units"]),
                "value": _finite(_value(running[variant], metric)),
            }
        )
    first = next((v for v in variants if v != control), None)
    power_block: dict[str, Any] = {}
    control_cell = by_variant_segment.get((control, ALL), {})
    if first is not None and control_cell.get("units", 0) >= 2:
        treatment_cell = by_variant_segment.get((first, ALL), {})
        n_days = max(1, len({day for (_, day) in days}))
        daily_units = (control_cell.get("units", 0) + treatment_cell.get("units", 0)) / n_days
        config = PowerConfig(alpha=experiment.alpha)
        plain = metric != "revenue_per_unit"
        c_stats = _stats(control_cell, metric, False)
        baseline = Baseline.from_stats(c_stats)
        mde = minimum_detectable_effect(baseline, control_cell["units"], config)
        power_block["minimum_detectable_effect_now"] = _finite(mde.effect)
        target = experiment.minimum_detectable_effect
        if target:
            wait = days_to_significance(
                c_stats, _stats(treatment_cell, metric, False), daily_units, target, config
            )
            power_block["minimum_detectable_effect"] = target
            power_block["days_to_significance"] = _finite(wait.days)
            power_block["additional_units"] = _finite(wait.additional_units)
        power_block["binary_metric"] = plain
    holdouts = {v.id for v in experiment.variants if v.treatment.policy == "holdout"}
    guardrails = []
    for guardrail in experiment.guardrail_metrics:
        for variant in variants:
            # a holdout is the programme's baseline, not a candidate that could harm it: no
            # offers lose clicks and conversions by design
            if variant == control or variant in holdouts:
                continue
            verdict = guardrail_verdict(
                _stats(by_variant_segment.get((control, ALL), {}), guardrail, False),
                _stats(by_variant_segment.get((variant, ALL), {}), guardrail, False),
                GuardrailConfig(alpha=experiment.alpha),
            )
            guardrails.append(
                {
                    "metric": guardrail,
                    "variant": variant,
                    "verdict": verdict.verdict,
                    "estimate": _finite(verdict.estimate),
                    "p_value": _finite(verdict.p_value),
                }
            )
    document: dict[str, Any] = {
        "experiment_id": experiment_id,
        "metric": metric,
        "control": control,
        "alpha": experiment.alpha,
        "analysis": experiment.analysis,
        "phase": experiment.phase,
        "srm": overall.pop("srm"),
        "overall": overall,
        "segments": segment_blocks,
        "daily": daily,
        "multiple_testing": {
            "method": correction,
            "family_size": len(tests) + len(others),
        },
        "power": power_block,
        "guardrails": guardrails,
    }
    annotate(
        document,
        holdouts,
        primary=experiment.primary_metric,
        planned=experiment.minimum_detectable_effect,
    )
    return document
