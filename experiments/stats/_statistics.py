"""Sufficient statistics: what an arm of an experiment is reduced to before any test runs.

Every class is a frozen value that adds with ``+`` so per-day or per-segment cells combine into
an overall cell exactly (sums add; means and variances do not). Its fields are ``n``, the units
in the arm, and sums over those units of a per-unit value, of its square and of products of two
values; ``mean`` and ``variance`` are per unit. Means and variances that are undefined (no units,
one unit) are NaN: the tests check the counts and report an error code. Nothing is clamped: sums
that imply a negative variance surface as ``INVALID_INPUT``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt


def snap_to_zero(value: float, scale: float) -> float:
    # A variance computed by subtraction lands a hair either side of zero when the truth is
    # zero (every value equal); snap that to 0. A clearly negative value is kept: it means
    # the sums are inconsistent, which the tests report as INVALID_INPUT.
    return 0.0 if abs(value) <= 1e-12 * abs(scale) else value


def _sample_variance(n: int, total: float, total_squares: float) -> float:
    # Unbiased (n - 1) variance from sums.
    if n < 2:
        return math.nan
    return snap_to_zero((total_squares - total * total / n) / (n - 1), total_squares / (n - 1))


def _sample_covariance(n: int, sum_x: float, sum_y: float, sum_xy: float) -> float:
    if n < 2:
        return math.nan
    return (sum_xy - sum_x * sum_y / n) / (n - 1)


class _Sums:
    """Adds field by field.

    Every field of a sufficient statistic is a count or a sum, so the statistics of two
    disjoint sets of units add to those of their union; deriving ``+`` from the fields keeps a
    field added to a class from being left out of its sum.
    """

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def __add__(self, other: Self) -> Self:
        names = [field.name for field in dataclasses.fields(self)]
        return type(self)(*(getattr(self, name) + getattr(other, name) for name in names))


@dataclass(frozen=True, slots=True)
class SampleStats(_Sums):
    """A numeric per-unit metric (revenue per unit, clicks per unit) as (n, sum, sum of squares)."""

    n: int
    sum: float
    sum_squares: float

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> SampleStats:
        """Reduce raw per-unit values (tests and notebooks; production aggregates sums)."""
        array = np.asarray(values, dtype=np.float64).ravel()
        return cls(int(array.size), float(array.sum()), float(np.dot(array, array)))

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n > 0 else math.nan

    @property
    def variance(self) -> float:
        """Unbiased per-unit variance, (sum_squares - sum^2 / n) / (n - 1).

        Negative when the sums are inconsistent (no data has them); tests then report
        ``INVALID_INPUT``.
        """
        return _sample_variance(self.n, self.sum, self.sum_squares)


@dataclass(frozen=True, slots=True)
class ProportionStats(_Sums):
    """A binary per-unit metric (converted or not) as (n, number of units with the event).

    The per-unit variance is p (1 - p), the Bernoulli variance GrowthBook's
    ``ProportionStatistic`` uses, so the reference numbers reproduce exactly.
    """

    n: int
    sum: float
    """Units with at least one event (conversions for ``conversion_rate``)."""

    @property
    def sum_squares(self) -> float:
        # A 0/1 value is its own square.
        return self.sum

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n > 0 else math.nan

    @property
    def variance(self) -> float:
        """Bernoulli variance p (1 - p)."""
        p = self.mean
        return p * (1.0 - p)


@dataclass(frozen=True, slots=True)
class RatioStats(_Sums):
    """A ratio of two per-unit sums (revenue per order, clicks per impression).

    The unit of randomisation is the customer, so numerator and denominator are correlated
    within a unit; the per-unit variance of the ratio comes from the delta method with that
    covariance (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics").
    ``sum_products`` sums numerator x denominator over the units.
    """

    n: int
    numerator_sum: float
    numerator_sum_squares: float
    denominator_sum: float
    denominator_sum_squares: float
    sum_products: float

    @property
    def numerator(self) -> SampleStats:
        return SampleStats(self.n, self.numerator_sum, self.numerator_sum_squares)

    @property
    def denominator(self) -> SampleStats:
        return SampleStats(self.n, self.denominator_sum, self.denominator_sum_squares)

    @property
    def covariance(self) -> float:
        return _sample_covariance(
            self.n, self.numerator_sum, self.denominator_sum, self.sum_products
        )

    @property
    def mean(self) -> float:
        """The ratio of sums (not the mean of per-unit ratios)."""
        if self.denominator_sum == 0:
            return math.nan
        return self.numerator_sum / self.denominator_sum

    @property
    def variance(self) -> float:
        """Per-unit delta-method variance of the ratio.

        With m, d the per-unit means: Var(m)/d^2 - 2 Cov(m, d) m / d^3 + m^2 Var(d) / d^4.
        Divide by n for the variance of the ratio estimate.
        """
        m = self.numerator.mean
        d = self.denominator.mean
        if self.n < 2 or d == 0:
            return math.nan
        var_m = self.numerator.variance
        var_d = self.denominator.variance
        return var_m / d**2 - 2.0 * self.covariance * m / d**3 + m**2 * var_d / d**4


@dataclass(frozen=True, slots=True)
class RegressionAdjustedStats(_Sums):
    """A per-unit metric with the same unit's pre-exposure value, for CUPED.

    The pre-exposure value x is fixed before assignment, so it cannot be moved by the
    treatment; regressing it out removes variance without adding bias (Deng, Xu, Kohavi &
    Walker 2013, "Improving the Sensitivity of Online Controlled Experiments by Utilizing
    Pre-Experiment Data"). Units without history carry x = 0. ``sum`` and ``sum_squares`` are
    over the post-exposure metric y, ``pre_sum`` and ``pre_sum_squares`` over x, and
    ``sum_products`` over x y.
    """

    n: int
    sum: float
    sum_squares: float
    pre_sum: float
    pre_sum_squares: float
    sum_products: float

    @property
    def post(self) -> SampleStats:
        """The metric alone, to analyse without adjustment."""
        return SampleStats(self.n, self.sum, self.sum_squares)

    @property
    def pre(self) -> SampleStats:
        return SampleStats(self.n, self.pre_sum, self.pre_sum_squares)

    @property
    def mean(self) -> float:
        """Unadjusted post-exposure mean (adjustment needs both arms: see the CUPED module)."""
        return self.post.mean

    @property
    def variance(self) -> float:
        """Unadjusted post-exposure per-unit variance."""
        return self.post.variance

    @property
    def covariance(self) -> float:
        """Per-unit sample covariance of post- and pre-exposure values."""
        return _sample_covariance(self.n, self.sum, self.pre_sum, self.sum_products)


MetricStats = SampleStats | ProportionStats | RatioStats | RegressionAdjustedStats
"""Any arm summary the tests accept; both arms of a comparison must be of the same kind."""
