"""Bayesian read-out of a lift: chance to win and expected loss, as GrowthBook reports them.

``alpha`` here sets the credible interval's probability, ``1 - alpha``; the other shared
settings are described once in :mod:`experiments.stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from experiments.stats._common import (
    NAN,
    Difference,
    check_positive,
    check_settings,
    norm_cdf,
    norm_pdf,
    norm_ppf,
    norm_sf,
)
from experiments.stats._effect import effect
from experiments.stats._statistics import MetricStats


@dataclass(frozen=True, slots=True)
class GaussianPrior:
    """A normal prior on the lift, on the comparison's difference scale."""

    mean: float = 0.0
    """Prior expected lift (0 is sceptical)."""
    variance: float = 1.0
    """Prior variance; 0.3^2 on the relative scale says lifts beyond +-60% are rare."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise ValueError(f"prior mean must be finite, got {self.mean!r}")
        check_positive(self.variance, "prior variance")


@dataclass(frozen=True, slots=True)
class BayesianConfig:
    """How to read a lift as a posterior."""

    alpha: float = 0.05
    difference: Difference = "relative"
    prior: GaussianPrior | None = None
    """``None`` is a flat prior: the posterior is the sampling distribution of the estimate."""
    higher_is_better: bool = True
    """``False`` for metrics where a decrease wins (cost, unsubscribes): chance to win and the
    two expected losses are read in that direction."""

    def __post_init__(self) -> None:
        check_settings(self.alpha, difference=self.difference)


@dataclass(frozen=True, slots=True)
class BayesianResult:
    """Posterior of the lift and the decision quantities marketers act on.

    ``expected`` and ``sd`` are the posterior mean and standard deviation of the lift, ``ci``
    its equal-tailed credible interval, and ``chance_to_win`` the posterior probability that
    the treatment is better than control.
    """

    expected: float
    sd: float
    ci: tuple[float, float]
    chance_to_win: float
    expected_loss_control: float
    """E[max(better-direction lift, 0)]: what keeping control costs on average if the treatment
    is in fact better."""
    expected_loss_treatment: float
    """E[max(-better-direction lift, 0)]: what shipping the treatment costs on average if it is
    in fact worse. Ship when this is below the loss you can tolerate."""
    error: str | None = None


def gaussian_expected_losses(mean: float, sd: float) -> tuple[float, float]:
    # For X ~ N(mu, s^2): E[X 1(X>0)] = mu Phi(mu/s) + s phi(mu/s) and
    # -E[X 1(X<0)] = s phi(mu/s) - mu Phi(-mu/s), GrowthBook's get_risk in closed form.
    z = mean / sd
    density = sd * norm_pdf(z)
    loss_if_not_chosen = mean * norm_cdf(z) + density
    loss_if_chosen = density - mean * norm_sf(z)
    return max(loss_if_not_chosen, 0.0), max(loss_if_chosen, 0.0)


def bayesian_test(
    control: MetricStats,
    treatment: MetricStats,
    config: BayesianConfig = BayesianConfig(),
) -> BayesianResult:
    """Normal-normal posterior of the lift, chance to win and expected loss.

    Chance to win answers "how likely is B better"; expected loss answers "how much do I
    lose if I pick B and I am wrong", which is what a decision should bound: a 60% chance to
    win with a tiny expected loss is a safe ship, a 90% one with a fat left tail may not be.

    Notes
    -----
    With ``d`` the estimated lift and ``v`` its (delta-method) variance, a flat prior gives
    the posterior ``N(d, v)``; a prior ``N(m0, v0)`` gives precision ``1/v + 1/v0`` and mean
    ``(d/v + m0/v0) / (1/v + 1/v0)``. For a posterior ``N(mu, s^2)``: chance to win
    ``Phi(mu/s)``, loss of keeping control ``mu Phi(mu/s) + s phi(mu/s)``, loss of shipping
    ``s phi(mu/s) - mu Phi(-mu/s)``.

    References
    ----------
    GrowthBook gbstats ``bayesian/tests.py`` (``EffectBayesianABTest``, ``get_risk``);
    Stucchio (2015), "Bayesian A/B Testing at VWO" (expected loss as the stopping rule).
    """
    moments = effect(control, treatment, config.difference)
    if moments.error is not None:
        return BayesianResult(NAN, NAN, (NAN, NAN), NAN, NAN, NAN, moments.error)
    data_mean, data_variance = moments.estimate, moments.variance
    if config.prior is None:
        mean, sd = data_mean, math.sqrt(data_variance)
    else:
        precision = 1.0 / data_variance + 1.0 / config.prior.variance
        mean = (data_mean / data_variance + config.prior.mean / config.prior.variance) / precision
        sd = math.sqrt(1.0 / precision)
    lower = norm_ppf(config.alpha / 2.0, mean, sd)
    upper = norm_ppf(1.0 - config.alpha / 2.0, mean, sd)
    better = mean if config.higher_is_better else -mean
    chance = norm_sf(0.0, better, sd)
    loss_control, loss_treatment = gaussian_expected_losses(better, sd)
    return BayesianResult(mean, sd, (lower, upper), chance, loss_control, loss_treatment)
