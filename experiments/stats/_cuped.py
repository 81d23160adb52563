"""CUPED: regression adjustment on each unit's pre-exposure value of the metric."""

from __future__ import annotations

import math
from dataclasses import dataclass

from experiments.stats._common import NAN, ErrorCode
from experiments.stats._statistics import (
    RegressionAdjustedStats,
    _sample_covariance,
    snap_to_zero,
)


@dataclass(frozen=True, slots=True)
class AdjustedArm:
    """One arm after adjustment: y-bar - theta x-bar and its per-unit variance."""

    n: int
    mean: float
    variance: float
    unadjusted_mean: float


@dataclass(frozen=True, slots=True)
class CupedResult:
    """What regression adjustment did to a comparison; the arms are ``None`` with ``error``."""

    theta: float
    """Pooled slope of the metric on its pre-exposure value (0 when it could not help)."""
    control: AdjustedArm | None
    treatment: AdjustedArm | None
    variance_reduction: float
    """1 - Var(adjusted difference) / Var(unadjusted difference): the share of sampling
    variance removed, which is also the share of sample size saved for the same power."""
    error: str | None = None


def cuped_theta(control: RegressionAdjustedStats, treatment: RegressionAdjustedStats) -> float:
    # One theta for both arms, from the pooled sample: with a per-arm theta the adjustment
    # would depend on the treatment and could bias the difference. Zero when either pooled
    # variance is zero (no history, or a constant metric), which means "do not adjust".
    joint = control + treatment
    pre_variance = joint.pre.variance
    post_variance = joint.post.variance
    if not (pre_variance > 0.0 and post_variance > 0.0):
        return 0.0
    covariance = _sample_covariance(joint.n, joint.sum, joint.pre_sum, joint.sum_products)
    return covariance / pre_variance


def adjust_arm(stats: RegressionAdjustedStats, theta: float) -> AdjustedArm:
    # Var(y - theta x) = Var(y) + theta^2 Var(x) - 2 theta Cov(x, y), per unit.
    post_variance = stats.post.variance
    variance = post_variance + theta**2 * stats.pre.variance - 2.0 * theta * stats.covariance
    return AdjustedArm(
        n=stats.n,
        mean=stats.post.mean - theta * stats.pre.mean,
        variance=snap_to_zero(variance, post_variance),
        unadjusted_mean=stats.post.mean,
    )


def relative_cuped_variance(
    control: RegressionAdjustedStats, treatment: RegressionAdjustedStats, theta: float
) -> float:
    # Delta method for (adj_T - adj_C) / ybar_C. The control arm enters twice (adjusted mean
    # in the numerator, raw mean in the denominator), so its contribution has the gradient
    # (-ybar_T / ybar_C^2, theta / ybar_C) over (ybar_C, xbar_C), taken where randomisation
    # balances the covariate (xbar_T = xbar_C), as GrowthBook's gbstats does.
    base = control.post.mean
    treatment_part = adjust_arm(treatment, theta).variance / (treatment.n * base**2)
    ratio = treatment.post.mean / base
    control_part = (
        ratio**2 * control.post.variance
        - 2.0 * theta * ratio * control.covariance
        + theta**2 * control.pre.variance
    ) / (control.n * base**2)
    return treatment_part + control_part


def regression_adjustment(
    control: RegressionAdjustedStats, treatment: RegressionAdjustedStats
) -> CupedResult:
    """Adjust both arms for their pre-exposure metric (CUPED) and report the gain.

    The tests in this package apply the same adjustment automatically when given
    :class:`RegressionAdjustedStats`; this function exists to show *how much* it helped.

    Notes
    -----
    ``theta = Cov(x, y) / Var(x)`` over both arms pooled, adjusted means ``y-bar - theta x-bar``
    and per-unit variances ``Var(y) + theta^2 Var(x) - 2 theta Cov(x, y)``, and the variance
    reduction of the absolute difference, which for large samples approaches ``rho^2``, the
    squared pre/post correlation.

    References
    ----------
    Deng, Xu, Kohavi & Walker (2013), "Improving the Sensitivity of Online Controlled
    Experiments by Utilizing Pre-Experiment Data", WSDM.
    """
    if control.n < 2 or treatment.n < 2:
        return CupedResult(NAN, None, None, NAN, ErrorCode.TOO_FEW_UNITS)
    theta = cuped_theta(control, treatment)
    adjusted_c = adjust_arm(control, theta)
    adjusted_t = adjust_arm(treatment, theta)
    raw = control.post.variance / control.n + treatment.post.variance / treatment.n
    if not raw > 0.0:
        return CupedResult(theta, adjusted_c, adjusted_t, NAN, ErrorCode.ZERO_VARIANCE)
    adjusted = adjusted_c.variance / control.n + adjusted_t.variance / treatment.n
    reduction = 1.0 - adjusted / raw
    return CupedResult(
        theta, adjusted_c, adjusted_t, reduction if math.isfinite(reduction) else NAN
    )
