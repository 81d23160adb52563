"""Experiment results from a phase's cells: added up, handed to the statistics, and written
as the results document (ARCHITECTURE.md, "Beside the loop").

Pure: the cells as the store holds them in, a document out. The engine reads the cells and
checks the metric's name against the activity types it knows, then calls
:func:`results_document`. Sums are added in the order the cells come, so a document is the
same to the last digit however often it is computed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from experiments.cells import ALL
from experiments.config import Experiment
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

__all__ = ["COVARIATES", "Covariate", "results_document"]

Cell = Mapping[str, float]
Totals = dict[tuple[str, str], dict[str, float]]


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


def _totals(raw: Mapping[str, str], phase: int) -> tuple[Totals, Totals]:
    """The phase's sums per (variant, segment), and over all customers per (variant, day)."""
    by_variant_segment: Totals = defaultdict(lambda: defaultdict(float))
    days: Totals = defaultdict(lambda: defaultdict(float))
    for (variant, segment, day), stats in _cells(raw, phase):
        totals = by_variant_segment[(variant, segment)]
        for stat, amount in stats.items():
            totals[stat] += amount
        if segment == ALL:
            daily_totals = days[(variant, day)]
            for stat, amount in stats.items():
                daily_totals[stat] += amount
    return by_variant_segment, days


@dataclass(frozen=True, slots=True)
class _Query:
    """One results query: the experiment, the metric it reads and the phase's sums, which
    every part of the document compares the same way (each variant with control)."""

    experiment: Experiment
    metric: str
    totals: Totals

    def cell(self, variant: str, segment: str = ALL) -> Cell:
        return self.totals.get((variant, segment), {})

    @property
    def variants(self) -> list[str]:
        return [v.id for v in self.experiment.variants]

    @property
    def treatments(self) -> list[str]:
        """Every variant but control, in the experiment's order."""
        return [v for v in self.variants if v != self.experiment.control]


def _variant_row(variant: str, cell: Cell, metric: str) -> dict[str, Any]:
    return {
        "variant": variant,
        "units": int(cell.get("units", 0)),
        "conversions": int(cell.get("conv", 0)),
        "clicks": int(cell.get("click", 0)),
        "value": _finite(_value(cell, metric)),
        "revenue": round(cell.get("rev", 0.0), 2),
    }


def _block(query: _Query, segment: str) -> dict[str, Any]:
    """One scope (all customers, or a segment): its variants, comparisons and SRM check."""
    control = query.experiment.control
    rows = [_variant_row(v, query.cell(v, segment), query.metric) for v in query.variants]
    comparisons = [
        {
            "variant": variant,
            **_compare(
                query.cell(control, segment),
                query.cell(variant, segment),
                query.metric,
                query.experiment,
            ),
        }
        for variant in query.treatments
    ]
    weights = [v.weight for v in query.experiment.variants]
    srm = srm_check([int(row["units"]) for row in rows], weights, SrmConfig())
    return {
        "variants": rows,
        "comparisons": comparisons,
        "srm": {"p_value": _finite(srm.p_value), "mismatch": bool(srm.mismatch)},
    }


def _other_p_values(query: _Query, segments: Sequence[str]) -> list[float]:
    """The p-values of every other reported metric's comparisons, in every scope."""
    experiment = query.experiment
    others: list[float] = []
    for other in dict.fromkeys([experiment.primary_metric, *experiment.secondary_metrics]):
        if other == query.metric:
            continue
        for segment in [ALL, *segments]:
            for variant in query.treatments:
                p_other = _p_value(
                    query.cell(experiment.control, segment),
                    query.cell(variant, segment),
                    other,
                    experiment,
                )
                if p_other is not None:
                    others.append(p_other)
    return others


def _adjust(
    query: _Query,
    blocks: Sequence[Mapping[str, Any]],
    segments: Sequence[str],
    correction: Literal["holm", "bh"],
) -> int:
    """Write ``p_value_adjusted`` into the blocks' comparisons; the family's size.

    One family: every segment x comparison of every metric the experiment reports (primary
    and secondary), so a "winner" found by slicing is adjusted for the slicing.
    """
    tests = [c for b in blocks for c in b["comparisons"] if c["p_value"] is not None]
    others = _other_p_values(query, segments)
    if tests:
        family = [c["p_value"] for c in tests] + others
        adjusted = adjust_p_values(family, MultipleTestingConfig(method=correction))
        for comparison, p in zip(tests, adjusted.adjusted[: len(tests)], strict=True):
            comparison["p_value_adjusted"] = _finite(p)
    return len(tests) + len(others)


def _daily(days: Totals, metric: str) -> list[dict[str, Any]]:
    """Cumulative units and value per variant at the end of each day, for the report's chart."""
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
    return daily


def _power(query: _Query, days: Totals) -> dict[str, Any]:
    """The effect detectable now and, against the planned one, the days still needed, for the
    first treatment against control (empty until control has two units)."""
    experiment, metric = query.experiment, query.metric
    first = next(iter(query.treatments), None)
    power_block: dict[str, Any] = {}
    control_cell = query.cell(experiment.control)
    if first is not None and control_cell.get("units", 0) >= 2:
        treatment_cell = query.cell(first)
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
    return power_block


def _guardrails(query: _Query, holdouts: set[str]) -> list[dict[str, Any]]:
    """Each guardrail's verdict per treatment over all customers."""
    experiment = query.experiment
    guardrails = []
    for guardrail in experiment.guardrail_metrics:
        for variant in query.treatments:
            # a holdout is the programme's baseline, not a candidate that could harm it: no
            # offers lose clicks and conversions by design
            if variant in holdouts:
                continue
            verdict = guardrail_verdict(
                _stats(query.cell(experiment.control), guardrail, False),
                _stats(query.cell(variant), guardrail, False),
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
    return guardrails


def results_document(
    experiment_id: str,
    experiment: Experiment,
    raw: Mapping[str, str],
    metric: str,
    by_segment: bool = True,
    correction: Literal["holm", "bh"] = "holm",
) -> dict[str, Any]:
    """The results document of ``experiment``'s current phase for ``metric`` (a name the
    caller has checked), from the cells ``raw`` as the store holds them."""
    by_variant_segment, days = _totals(raw, experiment.phase)
    query = _Query(experiment, metric, by_variant_segment)
    segments = sorted({s for (_, s) in by_variant_segment if s != ALL}) if by_segment else []
    overall = _block(query, ALL)
    segment_blocks = [{"segment": s, **_block(query, s)} for s in segments]
    family_size = _adjust(query, [overall, *segment_blocks], segments, correction)
    holdouts = {v.id for v in experiment.variants if v.treatment.policy == "holdout"}
    document: dict[str, Any] = {
        "experiment_id": experiment_id,
        "metric": metric,
        "control": experiment.control,
        "alpha": experiment.alpha,
        "analysis": experiment.analysis,
        "phase": experiment.phase,
        "srm": overall.pop("srm"),
        "overall": overall,
        "segments": segment_blocks,
        "daily": _daily(days, metric),
        "multiple_testing": {"method": correction, "family_size": family_size},
        "power": _power(query, days),
        "guardrails": _guardrails(query, holdouts),
    }
    annotate(
        document,
        holdouts,
        primary=experiment.primary_metric,
        planned=experiment.minimum_detectable_effect,
    )
    return document
