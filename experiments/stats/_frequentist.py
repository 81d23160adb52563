"""Fixed-horizon frequentist tests: Welch t, two-proportion z, post-stratified difference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from experiments.stats._common import (
    NAN,
    Alternative,
    Difference,
    ErrorCode,
    check_alpha,
    check_choice,
    norm_isf,
    norm_sf,
    t_isf,
    t_sf,
)
from experiments.stats._effect import Effect, effect
from experiments.stats._statistics import MetricStats, ProportionStats


@dataclass(frozen=True, slots=True)
class FrequentistConfig:
    """How to test and report a lift.

    Attributes
    ----------
    alpha : float
        Significance level; CIs have coverage 1 - alpha.
    alternative : {"two-sided", "greater", "less"}
        ``greater`` tests treatment > control and gives the interval ``[lower, inf)``.
    difference : {"absolute", "relative"}
        Scale of the lift: mean_T - mean_C, or that over |mean_C|.
    test_value : float
        The lift under the null hypothesis, on the ``difference`` scale (a non-inferiority
        margin, say); 0 tests "no effect".
    """

    alpha: float = 0.05
    alternative: Alternative = "two-sided"
    difference: Difference = "relative"
    test_value: float = 0.0

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_choice(self.alternative, Alternative, "alternative")
        check_choice(self.difference, Difference, "difference")
        if not math.isfinite(self.test_value):
            raise ValueError(f"test_value must be finite, got {self.test_value!r}")


@dataclass(frozen=True, slots=True)
class FrequentistResult:
    """A lift with its uncertainty.

    Attributes
    ----------
    estimate : float
        The lift on the configured scale.
    se : float
        Its standard error (delta method for relative lifts).
    ci : tuple[float, float]
        Confidence interval (one end infinite for one-sided tests; always-valid for the
        sequential tests).
    p_value : float
        Against ``test_value`` (always-valid for the sequential tests).
    statistic : float
        The standardised lift (estimate - test_value) / se behind ``p_value`` (the pooled z
        for the two-proportion test).
    df : float
        Degrees of freedom of the reference t distribution; ``inf`` for normal theory.
    error : str | None
        An :class:`ErrorCode`; when set every number is NaN.
    """

    estimate: float
    se: float
    ci: tuple[float, float]
    p_value: float
    statistic: float
    df: float
    error: str | None = None


def failed_result(code: str) -> FrequentistResult:
    return FrequentistResult(NAN, NAN, (NAN, NAN), NAN, NAN, NAN, code)


def _sf(x: float, df: float) -> float:
    # Upper tail of the reference distribution; normal theory when df is infinite.
    return norm_sf(x) if math.isinf(df) else t_sf(x, df)


def _quantile(q: float, df: float) -> float:
    return norm_isf(q) if math.isinf(df) else t_isf(q, df)


def result_from(
    estimate: float,
    se: float,
    df: float,
    config: FrequentistConfig,
    statistic: float | None = None,
) -> FrequentistResult:
    """p-value and CI for an asymptotically t (or normal) lift."""
    stat = (estimate - config.test_value) / se if statistic is None else statistic
    if config.alternative == "two-sided":
        p = 2.0 * _sf(abs(stat), df)
        width = _quantile(config.alpha / 2.0, df) * se
        ci = (estimate - width, estimate + width)
    elif config.alternative == "greater":
        p = _sf(stat, df)
        ci = (estimate - _quantile(config.alpha, df) * se, math.inf)
    else:
        p = _sf(-stat, df)
        ci = (-math.inf, estimate + _quantile(config.alpha, df) * se)
    return FrequentistResult(estimate, se, ci, min(p, 1.0), stat, df)


def from_effect(moments: Effect, config: FrequentistConfig) -> FrequentistResult:
    if moments.error is not None:
        return failed_result(moments.error)
    return result_from(moments.estimate, moments.se, moments.df, config)


def welch_t_test(
    control: MetricStats,
    treatment: MetricStats,
    config: FrequentistConfig = FrequentistConfig(),
) -> FrequentistResult:
    """Welch's unequal-variance t test of a lift, absolute or relative.

    Welch rather than Student because a treatment changes the spread of a metric as well as
    its mean (revenue concentrates in fewer buyers); the pooled-variance t test is then
    miscalibrated whenever the arms are unequal in size.

    Parameters
    ----------
    control, treatment : MetricStats
        Sufficient statistics of the same kind. :class:`RegressionAdjustedStats` are
        CUPED-adjusted first (see :func:`regression_adjustment`); :class:`ProportionStats`
        use the Bernoulli variance.
    config : FrequentistConfig
        Level, sidedness, difference scale and null value.

    Returns
    -------
    FrequentistResult
        With ``df`` the Welch-Satterthwaite value
        ``(v_C/n_C + v_T/n_T)^2 / ((v_C/n_C)^2/(n_C-1) + (v_T/n_T)^2/(n_T-1))`` and, for the
        relative lift ``(m_T - m_C)/|m_C|``, the delta-method variance
        ``v_T/(m_C^2 n_T) + v_C m_T^2/(m_C^4 n_C)``. ``error`` is set (and numbers are NaN)
        for fewer than two units in an arm, zero variance, or a zero control mean on the
        relative scale.

    References
    ----------
    Welch (1947), Biometrika 34; GrowthBook gbstats ``frequentist/tests.py`` (``TTest``).
    """
    return from_effect(effect(control, treatment, config.difference), config)


def two_proportion_z_test(
    control: ProportionStats,
    treatment: ProportionStats,
    config: FrequentistConfig = FrequentistConfig(),
) -> FrequentistResult:
    """Two-proportion z test for a conversion-type metric.

    The p-value for "no difference" uses the pooled rate, because under that null both arms
    share one rate and the pooled variance is its best estimate; it is the same for the
    absolute and the relative lift (one is zero exactly when the other is). The confidence
    interval cannot assume the null, so it uses the unpooled (Wald / delta-method) standard
    error. With a non-zero ``test_value`` the p-value is the Wald one as well.

    Parameters
    ----------
    control, treatment : ProportionStats
        Units and converting units per arm.
    config : FrequentistConfig
        Level, sidedness, difference scale and null value.

    Returns
    -------
    FrequentistResult
        ``statistic = (p_T - p_C) / sqrt(p(1-p)(1/n_C + 1/n_T))`` with ``p`` the pooled rate
        (when ``test_value == 0``), ``df = inf``.

    References
    ----------
    Fleiss, Levin & Paik (2003), "Statistical Methods for Rates and Proportions", ch. 3;
    statsmodels ``proportions_ztest`` (pooled variance).
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
    if config.difference == "relative":
        if p_c == 0.0:
            return failed_result(ErrorCode.ZERO_BASELINE)
        estimate = (p_t - p_c) / p_c
        se = math.sqrt(
            treatment.variance / (p_c**2 * treatment.n)
            + control.variance * p_t**2 / (p_c**4 * control.n)
        )
    else:
        estimate = p_t - p_c
        se = math.sqrt(unpooled_variance)
    if config.test_value == 0.0:
        statistic = (p_t - p_c) / math.sqrt(pooled_variance)
    elif se > 0.0:
        statistic = (estimate - config.test_value) / se
    else:
        return failed_result(ErrorCode.ZERO_VARIANCE)
    return result_from(estimate, se, math.inf, config, statistic=statistic)


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
    config : FrequentistConfig
        Level, sidedness, difference scale and null value.

    Returns
    -------
    FrequentistResult
        With ``w_k = n_k / N`` the stratum shares, ``m_T = sum w_k m_Tk`` and likewise
        ``m_C``, absolute lift ``m_T - m_C`` or relative ``(m_T - m_C)/|m_C|``. Variances
        include the multinomial randomness of the shares,
        ``Cov(w) = (diag(w) - w w') / N``, on top of ``sum w_k^2 v_k / n_k``; normal theory
        (``df = inf``).

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
    return result_from(estimate, math.sqrt(variance), math.inf, config)
