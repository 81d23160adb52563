"""Sequential tests: results a marketer may look at every day without inflating false positives.

Two always-valid procedures (valid at every look, however many, whenever one stops) and one
group-sequential boundary calculator (valid at a planned schedule of looks):

* :func:`sequential_test`: Waudby-Smith et al.'s asymptotic confidence sequence, as GrowthBook
  runs it; tuned by the sample size N* at which the interval is tightest.
* :func:`msprt_test`: the mixture sequential probability ratio test (Johari et al.), tuned by
  the prior spread of plausible effects.
* :func:`group_sequential_bounds`: alpha-spending boundaries (Lan & DeMets) for K planned looks.

Here ``alpha`` bounds the probability of *ever* rejecting a true null (or of the sequence
ever excluding the true lift), over all looks; the other shared settings are described once
in :mod:`experiments.stats`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize  # type: ignore[import-untyped]
from scipy import stats as sps

from experiments.stats._common import (
    Alternative,
    Difference,
    ErrorCode,
    LiftSettings,
    check_choice,
    check_positive,
    check_settings,
)
from experiments.stats._effect import effect
from experiments.stats._frequentist import FrequentistResult, RelativeInterval, failed_result
from experiments.stats._statistics import MetricStats


@dataclass(frozen=True, slots=True)
class SequentialConfig(LiftSettings):
    """Settings of the asymptotic confidence sequence."""

    test_value: float = 0.0
    tuning: float = 5000.0
    """N*, the total sample size (both arms) at which the sequence is tightest. GrowthBook's
    default is 5000; set it near the sample size at which a decision is expected."""
    relative_interval: RelativeInterval = "log_ratio"
    """As in :class:`FrequentistConfig`: ``log_ratio`` runs the sequence on log(1 + lift)."""

    def __post_init__(self) -> None:
        LiftSettings.__post_init__(self)
        check_positive(self.tuning, "tuning")
        check_choice(self.relative_interval, RelativeInterval, "relative_interval")


def sequential_rho(alpha: float, tuning: float) -> float:
    """Mixing parameter that makes the boundary tightest at N = tuning (Waudby-Smith eq. 161)."""
    log_term = -2.0 * math.log(alpha)
    return math.sqrt((log_term + math.log(log_term + 1.0)) / tuning)


def sequential_multiplier(n_total: float, alpha: float, tuning: float, two_sided: bool) -> float:
    """Half-width of the confidence sequence in standard errors at total sample size n.

    Two-sided: ``sqrt(2 (N rho^2 + 1) / (N rho^2) * log(sqrt(N rho^2 + 1) / alpha))``;
    one-sided: rho from 2 alpha and ``log(1 + sqrt(N rho^2 + 1) / (2 alpha))``. The fixed-
    horizon z multiplier (1.96) is what this replaces.
    """
    if two_sided:
        rho = sequential_rho(alpha, tuning)
        nr2 = n_total * rho**2
        return math.sqrt(2.0 * (nr2 + 1.0) / nr2 * math.log(math.sqrt(nr2 + 1.0) / alpha))
    rho = sequential_rho(2.0 * alpha, tuning)
    nr2 = n_total * rho**2
    return math.sqrt(2.0 * (nr2 + 1.0) / nr2 * math.log1p(math.sqrt(nr2 + 1.0) / (2.0 * alpha)))


def sequential_test(
    control: MetricStats,
    treatment: MetricStats,
    config: SequentialConfig = SequentialConfig(),
) -> FrequentistResult:
    """Always-valid confidence interval and p-value for a lift (asymptotic confidence sequence).

    A fixed-horizon test looked at daily rejects a true null far more often than alpha; this
    interval holds *simultaneously* over all sample sizes with probability 1 - alpha, so an
    experiment may be stopped the first day it excludes zero.

    Notes
    -----
    With N the units in both arms, ``s^2 = N Var(estimate)`` and
    ``rho = sqrt((-2 log alpha + log(-2 log alpha + 1)) / N*)``, the two-sided interval is
    ``estimate +- sqrt(s^2) sqrt(2 (N rho^2 + 1) / (N rho)^2 log(sqrt(N rho^2 + 1) / alpha))``
    and the p-value ``min(1, sqrt(N rho^2 + 1) exp(-rho^2 N^2 d^2 / (2 s^2 (N rho^2 + 1))))``
    with ``d = estimate - test_value`` (the alpha at which the interval touches
    ``test_value``). One-sided sequences use ``2 alpha`` in rho and
    ``log(1 + sqrt(N rho^2 + 1) / (2 alpha))``; their p-value inverts that boundary in closed
    form (GrowthBook bisects). ``df = inf``.

    A relative lift with ``relative_interval="log_ratio"`` (the default) runs all of the
    above on ``log(1 + lift)`` with its delta-method standard error and exponentiates the
    ends, as the fixed-horizon tests do; the sequence's argument is the same asymptotic
    normality, on a scale where the interval cannot cross -100%.

    Each look's interval is valid on its own; reporting the running intersection of all
    intervals so far (and the running minimum p-value) is also valid and never widens.

    References
    ----------
    Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023), "Time-uniform central limit theory
    and asymptotic confidence sequences", arXiv:2103.06476, eqs. 9, 155, 161; GrowthBook
    gbstats ``SequentialTwoSidedTTest``.
    """
    moments = effect(control, treatment, config.difference)
    if moments.error is not None:
        return failed_result(moments.error)
    n = float(moments.n_total)
    log_scale = (
        config.difference == "relative"
        and config.relative_interval == "log_ratio"
        and moments.log_variance > 0.0
        and 1.0 + config.test_value > 0.0
    )
    if log_scale:
        centre, se = math.log1p(moments.estimate), math.sqrt(moments.log_variance)
        d = centre - math.log1p(config.test_value)
        method = "log_ratio"
    else:
        centre, se = moments.estimate, moments.se
        d = moments.estimate - config.test_value
        method = "delta" if config.difference == "relative" else "wald"
    two_sided = config.alternative == "two-sided"
    halfwidth = se * sequential_multiplier(n, config.alpha, config.tuning, two_sided)
    if two_sided:
        rho = sequential_rho(config.alpha, config.tuning)
        nr2 = n * rho**2
        log_p = 0.5 * math.log(nr2 + 1.0) - nr2 * (d / se) ** 2 / (2.0 * (nr2 + 1.0))
        p = math.exp(min(log_p, 0.0))
        ci = (centre - halfwidth, centre + halfwidth)
    else:
        rho = sequential_rho(2.0 * config.alpha, config.tuning)
        nr2 = n * rho**2
        toward = d if config.alternative == "greater" else -d
        if toward <= 0.0:
            p = 1.0
        else:
            # Solve log(1 + sqrt(N rho^2 + 1) / (2 p)) = N rho^2 (d/se)^2 / (2 (N rho^2 + 1)).
            level = nr2 * (d / se) ** 2 / (2.0 * (nr2 + 1.0))
            p = min(1.0, math.sqrt(nr2 + 1.0) / (2.0 * math.expm1(level)))
        if config.alternative == "greater":
            ci = (centre - halfwidth, math.inf)
        else:
            ci = (-math.inf, centre + halfwidth)
    if log_scale:
        ci = (math.expm1(ci[0]), math.expm1(ci[1]))
    return FrequentistResult(
        moments.estimate, moments.se, ci, p, d / se, math.inf, None, "sequential", method
    )


@dataclass(frozen=True, slots=True)
class MsprtConfig:
    """Settings of the mixture SPRT (two-sided only)."""

    alpha: float = 0.05
    difference: Difference = "relative"
    mixing_variance: float = 0.01
    """tau^2, the variance of the normal mixture over effects on the ``difference`` scale:
    power is best for effects of size about tau. The default 0.01 suits relative lifts of
    around +-10%."""
    test_value: float = 0.0

    def __post_init__(self) -> None:
        check_settings(self.alpha, difference=self.difference)
        check_positive(self.mixing_variance, "mixing_variance")


def msprt_test(
    control: MetricStats,
    treatment: MetricStats,
    config: MsprtConfig = MsprtConfig(),
) -> FrequentistResult:
    """Mixture sequential probability ratio test (two-sided) with its confidence sequence.

    The mixture likelihood ratio is a non-negative martingale under the null, so by Ville's
    inequality it exceeds 1/alpha with probability at most alpha *ever*: its reciprocal is a
    p-value valid at any stopping time.

    Notes
    -----
    With ``d = estimate - test_value``, ``s^2 = Var(estimate)`` (which is ``V / n`` for n units
    per arm and per-pair variance V) and ``tau^2`` the mixing variance,
    ``Lambda = sqrt(s^2 / (s^2 + tau^2)) exp(tau^2 d^2 / (2 s^2 (s^2 + tau^2)))`` and
    ``p = min(1, 1 / Lambda)``; the interval is the set of lifts the test does not reject,
    ``estimate +- sqrt(2 s^2 (s^2 + tau^2) / tau^2 (log(1/alpha) + log((s^2+tau^2)/s^2)/2))``.
    ``df = inf``. Report the running minimum of ``p`` across looks.

    References
    ----------
    Johari, Koomen, Pekelis & Walsh (2017), "Peeking at A/B Tests", KDD; Robbins (1970).
    """
    moments = effect(control, treatment, config.difference)
    if moments.error is not None:
        return failed_result(moments.error)
    s2 = moments.variance
    tau2 = config.mixing_variance
    d = moments.estimate - config.test_value
    log_lambda = 0.5 * math.log(s2 / (s2 + tau2)) + tau2 * d * d / (2.0 * s2 * (s2 + tau2))
    p = math.exp(-max(log_lambda, 0.0))
    radius = math.sqrt(
        2.0
        * s2
        * (s2 + tau2)
        / tau2
        * (math.log(1.0 / config.alpha) + 0.5 * math.log((s2 + tau2) / s2))
    )
    ci = (moments.estimate - radius, moments.estimate + radius)
    return FrequentistResult(moments.estimate, math.sqrt(s2), ci, p, d / math.sqrt(s2), math.inf)


SpendingFunction = Literal["power", "obrien_fleming", "pocock"]


@dataclass(frozen=True, slots=True)
class GroupSequentialConfig:
    """Alpha spending for a planned series of looks.

    Two-sided boundaries are symmetric; one-sided ones bound one tail.
    """

    alpha: float = 0.05
    alternative: Alternative = "two-sided"
    spending: SpendingFunction = "power"
    """``power``: alpha t^rho (Kim & DeMets); ``obrien_fleming``: Lan-DeMets
    2 - 2 Phi(z_{1-alpha/2} / sqrt(t)); ``pocock``: alpha log(1 + (e - 1) t)."""
    rho: float = 2.0
    """Exponent of the power family (2 is Spotify Confidence's default)."""
    grid_points: int = 200
    """Points per unit of standard deviation in the numerical integration."""

    def __post_init__(self) -> None:
        check_settings(self.alpha, self.alternative)
        check_choice(self.spending, SpendingFunction, "spending")
        check_positive(self.rho, "rho")
        if self.grid_points < 20:
            raise ValueError(f"grid_points must be at least 20, got {self.grid_points!r}")


@dataclass(frozen=True, slots=True)
class GroupSequentialBounds:
    """Critical values for each look; with ``error`` set the tuples are empty."""

    information: tuple[float, ...]
    """Information fractions t_k (share of the planned sample), as given."""
    z_bounds: tuple[float, ...]
    """Reject at look k when |z_k| (or z_k, or -z_k one-sided) reaches ``z_bounds[k]``."""
    nominal_alpha: tuple[float, ...]
    """The per-look p-value threshold equivalent to each bound."""
    spent_alpha: tuple[float, ...]
    """Cumulative alpha spent by each look."""
    error: str | None = None


def _spent(t: float, config: GroupSequentialConfig) -> float:
    alpha = config.alpha
    if config.spending == "power":
        return alpha * float(t**config.rho)
    if config.spending == "pocock":
        return alpha * math.log1p((math.e - 1.0) * t)
    sides = 2.0 if config.alternative == "two-sided" else 1.0
    z = float(sps.norm.isf(alpha / sides))
    return sides * float(sps.norm.sf(z / math.sqrt(t)))


def _simpson_weights(count: int, step: float) -> np.ndarray:
    weights = np.ones(count)
    weights[1:-1:2] = 4.0
    weights[2:-1:2] = 2.0
    return weights * step / 3.0


def _excess_crossing(
    bound: float,
    t: float,
    step_sd: float,
    grid: np.ndarray,
    mass: np.ndarray,
    two_sided: bool,
    target: float,
) -> float:
    # P(first crossing at this look) - alpha to spend: integrate the previous look's
    # sub-density (already multiplied by quadrature weights) against the crossing kernel.
    edge = bound * math.sqrt(t)
    crossing = sps.norm.sf((edge - grid) / step_sd)
    if two_sided:
        crossing = crossing + sps.norm.cdf((-edge - grid) / step_sd)
    return float(np.sum(mass * crossing)) - target


def group_sequential_bounds(
    information: Sequence[float],
    config: GroupSequentialConfig = GroupSequentialConfig(),
) -> GroupSequentialBounds:
    """Boundaries that spend alpha across planned looks at information fractions t_k.

    Each look's bound is chosen so that the probability of first crossing at that look under
    the null equals the alpha newly spent, ``alpha(t_k) - alpha(t_{k-1})``; the looks need
    not be equally spaced nor fixed in advance, only their information fractions (units so
    far over units planned) known when they happen.

    Parameters
    ----------
    information : sequence of float
        Increasing information fractions in (0, 1]; the last is usually 1.

    Notes
    -----
    The score process ``S_k = Z_k sqrt(t_k)`` is Brownian motion, so the sub-density of S on
    the continuation region is carried from look to look by convolution with a normal kernel
    (Armitage, McPherson & Rowe 1969), integrated with Simpson's rule; each bound is solved
    with Brent's method.

    References
    ----------
    Lan & DeMets (1983), Biometrika 70; Kim & DeMets (1987), Biometrics 43; Jennison &
    Turnbull (2000), "Group Sequential Methods with Applications to Clinical Trials", ch. 19.
    """
    times = [float(t) for t in information]
    if (
        not times
        or any(not 0.0 < t <= 1.0 for t in times)
        or any(b <= a for a, b in itertools.pairwise(times))
    ):
        return GroupSequentialBounds(tuple(times), (), (), (), ErrorCode.INVALID_INPUT)
    two_sided = config.alternative == "two-sided"
    sides = 2.0 if two_sided else 1.0
    spent = [_spent(t, config) for t in times]
    bounds: list[float] = []
    # Sub-density of S on the continuation region at the previous look, on a grid.
    grid = np.empty(0)
    density = np.empty(0)
    weights = np.empty(0)
    previous_t = 0.0
    for k, t in enumerate(times):
        increment = spent[k] - (spent[k - 1] if k else 0.0)
        step_sd = math.sqrt(t - previous_t)
        if k == 0:
            z = float(sps.norm.isf(increment / sides))
        else:
            arguments = (t, step_sd, grid, weights * density, two_sided, increment)
            z = float(optimize.brentq(_excess_crossing, 0.0, 40.0, args=arguments, xtol=1e-10))
        bounds.append(z)
        if k + 1 == len(times):
            break
        # Carry the sub-density to this look's continuation region.
        edge = z * math.sqrt(t)
        low = -edge if two_sided else -10.0 * math.sqrt(t)
        count = max(int(config.grid_points * (edge - low) / math.sqrt(t)), 20) | 1
        new_grid = np.linspace(low, edge, count)
        new_weights = _simpson_weights(count, (edge - low) / (count - 1))
        if k == 0:
            new_density = sps.norm.pdf(new_grid / math.sqrt(t)) / math.sqrt(t)
        else:
            kernel = sps.norm.pdf((new_grid[:, None] - grid[None, :]) / step_sd) / step_sd
            new_density = kernel @ (weights * density)
        grid, density, weights, previous_t = new_grid, new_density, new_weights, t
    nominal = tuple(sides * float(sps.norm.sf(b)) for b in bounds)
    return GroupSequentialBounds(tuple(times), tuple(bounds), nominal, tuple(spent))
