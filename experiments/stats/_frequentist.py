"""Fixed-horizon frequentist tests: Welch t, two-proportion z, post-stratified difference.

Shared settings and result fields are described once in :mod:`experiments.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps  # type: ignore[import-untyped]

from experiments.stats._common import (
    NAN,
    Alternative,
    ErrorCode,
    LiftSettings,
    check_choice,
    norm_isf,
    norm_sf,
    t_isf,
    t_sf,
)
from experiments.stats._effect import Effect, effect
from experiments.stats._statistics import MetricStats, ProportionStats

RelativeInterval = Literal["log_ratio", "delta"]
"""``log_ratio``: exp of a delta-method interval for log(mean_T / mean_C), minus 1, which
stays above -100%; ``delta``: the linear delta-method interval (GrowthBook's), which need not."""


@dataclass(frozen=True, slots=True)
class FrequentistConfig(LiftSettings):
    """How to test and report a lift."""

    test_value: float = 0.0
    relative_interval: RelativeInterval = "log_ratio"
    """How a relative lift's interval (and, for means, its p-value) is computed. ``delta`` is
    kept to reproduce GrowthBook's numbers; a baseline or treatment level that is not
    positive has no log ratio and falls back to it (``interval_method`` says)."""
    exact_below: float = 5.0
    """The two-proportion test of "no difference" runs Fisher's exact test instead of the
    pooled z test when any expected cell of the 2x2 table is below this (the textbook rule
    of 5, Cochran 1954); 0 never switches."""
    nonnegative: bool = False
    """The metric cannot be negative (rates, counts, revenue without refunds), so a relative
    lift cannot be below -100%. Where the log ratio is undefined and the delta interval is
    used, its ends and the estimate are held at -100% (``delta_truncated``): the parameter
    lies in [-1, inf), so intersecting an interval with it loses no coverage."""

    def __post_init__(self) -> None:
        LiftSettings.__post_init__(self)
        check_choice(self.relative_interval, RelativeInterval, "relative_interval")
        if not math.isfinite(self.test_value):
            raise ValueError(f"test_value must be finite, got {self.test_value!r}")
        if not (math.isfinite(self.exact_below) and self.exact_below >= 0.0):
            raise ValueError(f"exact_below must be finite and >= 0, got {self.exact_below!r}")


@dataclass(frozen=True, slots=True)
class FrequentistResult:
    """A lift with its uncertainty; the sequential tests return one too, always-valid."""

    estimate: float
    se: float
    ci: tuple[float, float]
    p_value: float
    statistic: float
    """The standardised lift behind ``p_value``: (estimate - test_value) / se, on the log
    scale for a ``log_ratio`` test, the pooled z for the two-proportion test."""
    df: float
    error: str | None = None
    test: str | None = None
    """What produced ``p_value``: ``welch_t``, ``log_ratio_t`` (Welch on the log ratio),
    ``pooled_z``, ``wald_z``, ``log_ratio_z``, ``fisher_exact``, ``sequential``."""
    interval_method: str | None = None
    """What produced ``ci``: ``wald`` (linear, absolute lifts), ``delta`` (linear delta method,
    relative), ``delta_truncated`` (the same held at -100% for a ``nonnegative`` metric),
    ``log_ratio`` (exponentiated log-ratio interval) or ``log_ratio_adjusted`` (the same with
    1/2 added to each count, when the treatment has no conversions)."""


def failed_result(code: str) -> FrequentistResult:
    return FrequentistResult(NAN, NAN, (NAN, NAN), NAN, NAN, NAN, code)


def _sf(x: float, df: float) -> float:
    # Upper tail of the reference distribution; normal theory when df is infinite.
    return norm_sf(x) if math.isinf(df) else t_sf(x, df)


def _quantile(q: float, df: float) -> float:
    return norm_isf(q) if math.isinf(df) else t_isf(q, df)


def _p(stat: float, df: float, alternative: Alternative) -> float:
    if alternative == "two-sided":
        return min(2.0 * _sf(abs(stat), df), 1.0)
    return _sf(stat if alternative == "greater" else -stat, df)


def _interval(
    centre: float, se: float, df: float, config: FrequentistConfig
) -> tuple[float, float]:
    if config.alternative == "two-sided":
        width = _quantile(config.alpha / 2.0, df) * se
        return (centre - width, centre + width)
    if config.alternative == "greater":
        return (centre - _quantile(config.alpha, df) * se, math.inf)
    return (-math.inf, centre + _quantile(config.alpha, df) * se)


def result_from(
    estimate: float,
    se: float,
    df: float,
    config: FrequentistConfig,
    statistic: float | None = None,
    *,
    test: str,
    log_se: float = NAN,
    log_df: float = NAN,
    p_value: float | None = None,
    log_centre: float | None = None,
) -> FrequentistResult:
    """p-value and CI for an asymptotically t (or normal) lift.

    A relative lift with a defined ``log_se`` (see :class:`Effect`) gets the log-ratio
    interval ``exp(log(1 + estimate) +- q log_se) - 1`` unless the config asks for the delta
    one; its p-value, unless given (``statistic`` or ``p_value``: the pooled z, Fisher's
    exact test), is the Wald test of the same log ratio against ``log(1 + test_value)``,
    so the interval excludes the null exactly when p < alpha. ``log_centre`` replaces
    log(1 + estimate) where that is undefined (a proportion with no conversions: see
    :func:`two_proportion_z_test`).

    References
    ----------
    Katz, Baptista, Azen & Pike (1978), "Obtaining confidence intervals for the risk ratio in
    cohort studies", Biometrics 34; Agresti (2013), "Categorical Data Analysis", 3rd ed., ch. 3
    (the log relative risk); statsmodels ``confint_proportions_2indep(compare="ratio",
    method="log")``.
    """
    log_scale = (
        config.difference == "relative"
        and config.relative_interval == "log_ratio"
        and log_se > 0.0
        and math.isfinite(log_se)
        and (1.0 + estimate > 0.0 or log_centre is not None)
    )
    if log_scale:
        centre = math.log1p(estimate) if log_centre is None else log_centre
        if statistic is None and p_value is None and 1.0 + config.test_value > 0.0:
            statistic = (centre - math.log1p(config.test_value)) / log_se
            test = f"log_ratio_{'z' if math.isinf(log_df) else 't'}"
            df = log_df
        if statistic is None:  # a null at or below -100% has no log: test it linearly
            statistic = (estimate - config.test_value) / se
        low, high = _interval(centre, log_se, log_df, config)
        ci = (math.expm1(low), math.expm1(high))
        method = "log_ratio" if log_centre is None else "log_ratio_adjusted"
    else:
        if statistic is None:
            statistic = (estimate - config.test_value) / se
        ci = _interval(estimate, se, df, config)
        method = "delta" if config.difference == "relative" else "wald"
        if method == "delta" and config.nonnegative and min(estimate, *ci) < -1.0:
            estimate, ci = max(estimate, -1.0), (max(ci[0], -1.0), max(ci[1], -1.0))
            method = "delta_truncated"
    p = _p(statistic, df, config.alternative) if p_value is None else p_value
    return FrequentistResult(estimate, se, ci, p, statistic, df, None, test, method)


def from_effect(moments: Effect, config: FrequentistConfig, test: str) -> FrequentistResult:
    if moments.error is not None:
        return failed_result(moments.error)
    return result_from(
        moments.estimate,
        moments.se,
        moments.df,
        config,
        test=test,
        log_se=math.sqrt(moments.log_variance),
        log_df=moments.log_df,
    )


def welch_t_test(
    control: MetricStats,
    treatment: MetricStats,
    config: FrequentistConfig = FrequentistConfig(),
) -> FrequentistResult:
    """Welch's unequal-variance t test of a lift, absolute or relative.

    Welch rather than Student because a treatment changes the spread of a metric as well as
    its mean (revenue concentrates in fewer buyers); the pooled-variance t test is then
    miscalibrated whenever the arms are unequal in size.

    Notes
    -----
    ``df`` is the Welch-Satterthwaite value
    ``(v_C/n_C + v_T/n_T)^2 / ((v_C/n_C)^2/(n_C-1) + (v_T/n_T)^2/(n_T-1))``; for the relative
    lift ``(m_T - m_C)/|m_C|``, ``se`` is the square root of the delta-method variance
    ``v_T/(m_C^2 n_T) + v_C m_T^2/(m_C^4 n_C)``, and the interval and p-value are the
    log-ratio ones (``exp(log(m_T/m_C) +- t se_log) - 1`` with
    ``se_log^2 = v_T/(n_T m_T^2) + v_C/(n_C m_C^2)`` and the Welch df of those two terms)
    unless the config asks for ``delta``. Fewer than two units in an arm, zero variance, or a
    zero control mean on the relative scale set ``error``.

    References
    ----------
    Welch (1947), Biometrika 34; GrowthBook gbstats ``frequentist/tests.py`` (``TTest``).
    """
    return from_effect(effect(control, treatment, config.difference), config, "welch_t")


def two_proportion_z_test(
    control: ProportionStats,
    treatment: ProportionStats,
    config: FrequentistConfig = FrequentistConfig(),
) -> FrequentistResult:
    """Two-proportion z test for a conversion-type metric.

    The p-value for "no difference" uses the pooled rate, because under that null both arms
    share one rate and the pooled variance is its best estimate; it is the same for the
    absolute and the relative lift (one is zero exactly when the other is). When any
    expected cell is below ``config.exact_below`` the normal approximation is not trusted
    and Fisher's exact test gives the p-value instead (``test == "fisher_exact"``). The
    confidence interval cannot assume the null, so it uses the unpooled standard error: Wald
    for the absolute lift, the log risk ratio (Katz et al. 1978) for the relative one, which
    keeps it above -100%. With a non-zero ``test_value`` the p-value is the Wald test on the
    interval's scale.

    Notes
    -----
    ``statistic = (p_T - p_C) / sqrt(p(1-p)(1/n_C + 1/n_T))`` with ``p`` the pooled rate (when
    ``test_value == 0``), ``df = inf``.

    References
    ----------
    Fleiss, Levin & Paik (2003), "Statistical Methods for Rates and Proportions", ch. 3;
    statsmodels ``proportions_ztest`` (pooled variance) and ``confint_proportions_2indep``
    (``compare="ratio", method="log"``); Fisher (1935); scipy ``fisher_exact``.
    """
    if not (isinstance(control, ProportionStats) and isinstance(treatment, ProportionStats)):
        return failed_result(ErrorCode.MIXED_STATISTICS)
    if control.n < 2 or treatment.n < 2:
        return failed_result(ErrorCode.TOO_FEW_UNITS)
    p_c, p_t = control.mean, treatment.mean
    pooled = (control.sum + treatment.sum) / (control.n + treatment.n)
    pooled_variance = pooled * (1.0 - pooled) * (1.0 / control.n + 1.0 / treatment.n)
    if not pooled_variance > 0.0:
        return failed_result(ErrorCode.ZERO_VARIANCE)
    unpooled_variance = control.variance / control.n + treatment.variance / treatment.n
    log_se = NAN
    log_centre = None
    if config.difference == "relative":
        if p_c == 0.0:
            return failed_result(ErrorCode.ZERO_BASELINE)
        estimate = (p_t - p_c) / p_c
        variance = treatment.variance / (p_c**2 * treatment.n) + control.variance * p_t**2 / (
            p_c**4 * control.n
        )
        se = math.sqrt(variance)
        if p_t > 0.0:
            # (1 - p_T)/(n_T p_T) + (1 - p_C)/(n_C p_C): the log risk ratio's variance.
            log_se = math.sqrt(
                treatment.variance / (treatment.n * p_t**2)
                + control.variance / (control.n * p_c**2)
            )
        else:
            # No conversions in treatment: no log ratio. Add 1/2 to each arm's count and units
            # (the "log-adjusted" interval Fagerland, Lydersen & Laake 2015 recommend;
            # statsmodels' default for a ratio), centred on the adjusted ratio.
            x_t, m_t = treatment.sum + 0.5, treatment.n + 0.5
            x_c, m_c = control.sum + 0.5, control.n + 0.5
            log_centre = math.log((x_t / m_t) / (x_c / m_c))
            log_se = math.sqrt(1.0 / x_t - 1.0 / m_t + 1.0 / x_c - 1.0 / m_c)
    else:
        estimate = p_t - p_c
        se = math.sqrt(unpooled_variance)
    p_value = None
    if config.test_value == 0.0:
        statistic: float | None = (p_t - p_c) / math.sqrt(pooled_variance)
        test = "pooled_z"
        if min_expected_count(control, treatment) < config.exact_below:
            p_value = fisher_p_value(control, treatment, config.alternative)
            test = "fisher_exact"
    elif se > 0.0:
        statistic = None  # the Wald test, on the log scale where the interval is
        test = "wald_z"
    else:
        return failed_result(ErrorCode.ZERO_VARIANCE)
    return result_from(
        estimate,
        se,
        math.inf,
        config,
        statistic=statistic,
        test=test,
        log_se=log_se,
        log_df=math.inf,
        p_value=p_value,
        log_centre=log_centre,
    )


def min_expected_count(control: ProportionStats, treatment: ProportionStats) -> float:
    """Smallest expected cell of the 2x2 arm x converted table under "no difference".

    Each cell expects (its arm's units) x (that outcome's total) / (all units); the normal
    approximation behind the pooled z test is trusted only when every cell expects 5 or
    more (Cochran 1954, "Some methods for strengthening the common chi-squared tests").
    """
    total = control.n + treatment.n
    converted = control.sum + treatment.sum
    smaller_arm = min(control.n, treatment.n)
    return smaller_arm * min(converted, total - converted) / total


def fisher_p_value(
    control: ProportionStats, treatment: ProportionStats, alternative: Alternative
) -> float:
    """Fisher's exact test of equal rates, with scipy; ``greater``: treatment converts more.

    Exact because it conditions on both margins, so its level holds for any counts, where
    the pooled z test's normal approximation fails with few expected conversions.
    """
    table = [
        [round(treatment.sum), treatment.n - round(treatment.sum)],
        [round(control.sum), control.n - round(control.sum)],
    ]
    return float(sps.fisher_exact(table, alternative=alternative).pvalue)


def post_stratified_test(
    strata: Sequence[tuple[MetricStats, MetricStats]],
    config: FrequentistConfig = FrequentistConfig(),
) -> FrequentistResult:
    """Overall lift from per-stratum (e.g. per-segment) statistics, post-stratified.

    Segments recorded at first exposure are pre-treatment covariates; weighting each
    stratum's difference by its share of units removes the between-stratum variance from the
    overall estimate, the way CUPED removes the predictable part of a unit's value.

    Parameters
    ----------
    strata : sequence of (control, treatment) pairs
        One pair per stratum; strata where an arm has fewer than two units (or an undefined
        mean) are left out. Pre-exposure sums, if any, are not used here.

    Notes
    -----
    With ``w_k = n_k / N`` the stratum shares, ``m_T = sum w_k m_Tk`` and likewise ``m_C``,
    the lift is ``m_T - m_C`` or ``(m_T - m_C)/|m_C|``. Variances include the multinomial
    randomness of the shares, ``Cov(w) = (diag(w) - w w') / N``, on top of
    ``sum w_k^2 v_k / n_k``; normal theory (``df = inf``).

    References
    ----------
    Miratrix, Sekhon & Yu (2013), "Adjusting treatment effect estimates by
    post-stratification in randomized experiments", JRSS-B; GrowthBook gbstats
    ``frequentist/post_strat.py``.
    """
    rows = []
    for control, treatment in strata:
        if type(control) is not type(treatment):
            return failed_result(ErrorCode.MIXED_STATISTICS)
        if control.n < 2 or treatment.n < 2:
            continue
        if math.isnan(control.mean) or math.isnan(treatment.mean):
            continue
        if control.variance < 0.0 or treatment.variance < 0.0:
            return failed_result(ErrorCode.INVALID_INPUT)
        rows.append(
            (
                control.n + treatment.n,
                control.mean,
                control.variance / control.n,
                treatment.mean,
                treatment.variance / treatment.n,
            )
        )
    if not rows:
        return failed_result(ErrorCode.NO_UNITS)
    table = np.asarray(rows, dtype=np.float64)
    n_total = float(table[:, 0].sum())
    w = table[:, 0] / n_total
    mc_k, vc_k, mt_k, vt_k = table[:, 1], table[:, 2], table[:, 3], table[:, 4]
    mean_c = float(w @ mc_k)
    mean_t = float(w @ mt_k)
    # Var(sum w_k m_k) = sum w_k^2 Var(m_k) + m' Cov(w) m, with the multinomial Cov(w).
    var_c = float(w**2 @ vc_k + (w @ mc_k**2 - mean_c**2) / n_total)
    var_t = float(w**2 @ vt_k + (w @ mt_k**2 - mean_t**2) / n_total)
    cov_ct = float((w @ (mc_k * mt_k) - mean_c * mean_t) / n_total)
    if config.difference == "relative":
        if mean_c == 0.0:
            return failed_result(ErrorCode.ZERO_BASELINE)
        estimate = (mean_t - mean_c) / abs(mean_c)
        variance = (
            var_t / mean_c**2 + mean_t**2 * var_c / mean_c**4 - 2.0 * mean_t * cov_ct / mean_c**3
        )
    else:
        estimate = mean_t - mean_c
        variance = var_t + var_c - 2.0 * cov_ct
    if not variance > 0.0:
        return failed_result(ErrorCode.ZERO_VARIANCE)
    log_se = NAN
    if config.difference == "relative" and mean_c > 0.0 and mean_t > 0.0:
        log_se = math.sqrt(variance) / (1.0 + estimate)  # Var(log r) = Var(r) / r^2
    return result_from(
        estimate,
        math.sqrt(variance),
        math.inf,
        config,
        test="wald_z",
        log_se=log_se,
        log_df=math.inf,
    )
