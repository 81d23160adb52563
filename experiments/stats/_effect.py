"""Point estimate and sampling variance of a lift: the one computation every test starts from."""

from __future__ import annotations

import math
from dataclasses import dataclass

from experiments.stats._common import NAN, Difference, ErrorCode
from experiments.stats._cuped import adjust_arm, cuped_theta, relative_cuped_variance
from experiments.stats._statistics import MetricStats, RegressionAdjustedStats


@dataclass(frozen=True, slots=True)
class Effect:
    """estimate, Var(estimate), Welch-Satterthwaite df, units in both arms, or an error.

    A relative lift over a positive baseline with a positive treatment level also carries
    ``log_variance``, Var(log(1 + estimate)) by the delta method, and its Welch df: an
    interval built on that scale and exponentiated never crosses -100% (the log-ratio
    interval for a risk ratio; Katz, Baptista, Azen & Pike 1978). NaN where it is undefined.
    """

    estimate: float
    variance: float
    df: float
    n_total: int
    error: str | None = None
    log_variance: float = NAN
    log_df: float = NAN

    @property
    def se(self) -> float:
        return math.sqrt(self.variance)


def failed(code: str, n_total: int = 0) -> Effect:
    return Effect(NAN, NAN, NAN, n_total, code)


def welch_df(var_c: float, n_c: int, var_t: float, n_t: int) -> float:
    # Welch-Satterthwaite on the per-arm variances of the means, whatever the difference scale.
    a = var_c / n_c
    b = var_t / n_t
    denominator = a * a / (n_c - 1) + b * b / (n_t - 1)
    if denominator <= 0.0:
        return math.inf
    return (a + b) ** 2 / denominator


def delta_variance(
    var_c: float, mean_c: float, n_c: int, var_t: float, mean_t: float, n_t: int, relative: bool
) -> float:
    """Variance of the lift; the relative form is the delta method for mean_T / mean_C - 1."""
    if relative:
        return var_t / (mean_c**2 * n_t) + var_c * mean_t**2 / (mean_c**4 * n_c)
    return var_t / n_t + var_c / n_c


def effect(control: MetricStats, treatment: MetricStats, difference: Difference) -> Effect:
    """Lift of treatment over control; CUPED-adjusted when given pre-exposure statistics."""
    if type(control) is not type(treatment):
        return failed(ErrorCode.MIXED_STATISTICS)
    n_total = control.n + treatment.n
    if control.n < 2 or treatment.n < 2:
        return failed(ErrorCode.TOO_FEW_UNITS, n_total)
    relative = difference == "relative"
    if isinstance(control, RegressionAdjustedStats) and isinstance(
        treatment, RegressionAdjustedStats
    ):
        return _cuped_effect(control, treatment, relative)
    mean_c, mean_t = control.mean, treatment.mean
    var_c, var_t = control.variance, treatment.variance
    if math.isnan(mean_c) or math.isnan(mean_t):
        # Only a ratio's mean is undefined past n >= 2: its denominator summed to zero.
        return failed(ErrorCode.ZERO_BASELINE, n_total)
    return _finish(mean_c, var_c, control.n, mean_t, var_t, treatment.n, mean_c, relative, None)


def _cuped_effect(
    control: RegressionAdjustedStats, treatment: RegressionAdjustedStats, relative: bool
) -> Effect:
    theta = cuped_theta(control, treatment)
    adj_c = adjust_arm(control, theta)
    adj_t = adjust_arm(treatment, theta)
    relative_variance = None
    if relative and adj_c.unadjusted_mean != 0.0:
        relative_variance = relative_cuped_variance(control, treatment, theta)
    return _finish(
        adj_c.mean,
        adj_c.variance,
        control.n,
        adj_t.mean,
        adj_t.variance,
        treatment.n,
        adj_c.unadjusted_mean,
        relative,
        relative_variance,
    )


def _finish(
    mean_c: float,
    var_c: float,
    n_c: int,
    mean_t: float,
    var_t: float,
    n_t: int,
    baseline: float,
    relative: bool,
    relative_variance: float | None,
) -> Effect:
    # baseline is the unadjusted control mean: the adjusted one estimates E[y] - theta E[x],
    # which is not the level a relative lift is a share of.
    n_total = n_c + n_t
    if var_c < 0.0 or var_t < 0.0:
        return failed(ErrorCode.INVALID_INPUT, n_total)
    if relative and baseline == 0.0:
        return failed(ErrorCode.ZERO_BASELINE, n_total)
    if relative:
        estimate = (mean_t - mean_c) / abs(baseline)
        variance = (
            relative_variance
            if relative_variance is not None
            else delta_variance(var_c, baseline, n_c, var_t, mean_t, n_t, True)
        )
    else:
        estimate = mean_t - mean_c
        variance = delta_variance(var_c, mean_c, n_c, var_t, mean_t, n_t, False)
    if not (variance > 0.0 and math.isfinite(variance)):
        return failed(ErrorCode.ZERO_VARIANCE, n_total)
    df = welch_df(var_c, n_c, var_t, n_t)
    if relative and baseline > 0.0 and 1.0 + estimate > 0.0:
        log_variance, log_df = log_ratio_moments(
            estimate, variance, var_c, n_c, baseline, var_t, n_t
        )
        return Effect(estimate, variance, df, n_total, None, log_variance, log_df)
    return Effect(estimate, variance, df, n_total)


def log_ratio_moments(
    estimate: float,
    variance: float,
    var_c: float,
    n_c: int,
    baseline: float,
    var_t: float,
    n_t: int,
) -> tuple[float, float]:
    """Var(log r) and its Welch df for r = 1 + estimate, from the delta-method Var(r).

    d log r = dr / r, so Var(log r) = Var(r) / r^2. For plain means this is exactly
    var_T / (n_T m_T^2) + var_C / (n_C m_C^2), the variance of a log risk ratio for
    proportions (Katz et al. 1978); for CUPED and ratio metrics it carries their own
    delta-method Var(r). The df weighs each arm's share on the log scale, where the
    treatment's level is r times the baseline.
    """
    ratio = 1.0 + estimate
    level_t = ratio * baseline
    df = welch_df(var_c / baseline**2, n_c, var_t / level_t**2, n_t)
    return variance / ratio**2, df
