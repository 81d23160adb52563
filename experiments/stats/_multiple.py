"""Multiple-comparison corrections across segments x metrics x variants."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps  # type: ignore[import-untyped]

from experiments.stats._common import ErrorCode, check_alpha, check_choice
from experiments.stats._frequentist import FrequentistConfig

CorrectionMethod = Literal["holm", "bh", "bonferroni", "by", "hommel"]


@dataclass(frozen=True, slots=True)
class MultipleTestingConfig:
    """Which error rate to control, and at which ``alpha`` ``rejected`` is computed."""

    method: CorrectionMethod = "holm"
    """``holm`` / ``bonferroni`` / ``hommel`` control the family-wise error rate (any false
    positive); ``bh`` (Benjamini-Hochberg) and ``by`` (Benjamini-Yekutieli, valid under any
    dependence) control the false discovery rate (the share of false positives among
    discoveries), the usual choice for many segments."""
    alpha: float = 0.05

    def __post_init__(self) -> None:
        check_choice(self.method, CorrectionMethod, "method")
        check_alpha(self.alpha)


@dataclass(frozen=True, slots=True)
class MultipleTestingResult:
    """Adjusted p-values in input order; ``error`` when an input is not a probability."""

    adjusted: tuple[float, ...]
    """Compare each with the unadjusted alpha. NaN inputs (cells whose test failed) stay NaN
    and do not count towards the number of tests."""
    rejected: tuple[bool, ...]
    """``adjusted <= alpha``."""
    error: str | None = None


def _holm(p: np.ndarray) -> np.ndarray:
    m = p.size
    ranked = p * (m - np.arange(m))
    return np.minimum(np.maximum.accumulate(ranked), 1.0)


def _bh(p: np.ndarray) -> np.ndarray:
    m = p.size
    ranked = p * m / np.arange(1, m + 1)
    return np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)


def _hommel(p: np.ndarray) -> np.ndarray:
    # Closed testing with Simes' test on every intersection, the usual O(m^2) shortcut
    # (Wright 1992; statsmodels' multipletests "hommel").
    m = p.size
    adjusted = p.copy()
    for size in range(m, 1, -1):
        simes = float(np.min(size * p[m - size :] / np.arange(1, size + 1)))
        adjusted[m - size :] = np.maximum(adjusted[m - size :], simes)
        adjusted[: m - size] = np.maximum(
            adjusted[: m - size], np.minimum(size * p[: m - size], simes)
        )
    result: np.ndarray = np.minimum(adjusted, 1.0)
    return result


def adjust_p_values(
    p_values: Sequence[float],
    config: MultipleTestingConfig = MultipleTestingConfig(),
) -> MultipleTestingResult:
    """Adjust p-values for the number of comparisons made.

    Reading twenty segments at alpha = 0.05 finds one "winner" by chance on average; the
    results page therefore reports adjusted p-values next to raw ones.

    Parameters
    ----------
    p_values : sequence of float
        Raw p-values, NaN for cells that could not be tested.

    Notes
    -----
    With the m finite p-values sorted ascending, p_(1) <= ... <= p_(m): Holm
    ``max_{j<=i} min(1, (m - j + 1) p_(j))``; Bonferroni ``min(1, m p_(i))``;
    Benjamini-Hochberg ``min_{j>=i} min(1, m p_(j) / j)``; Benjamini-Yekutieli the BH value
    times ``sum_{k<=m} 1/k``; Hommel the closed Simes procedure.

    References
    ----------
    Holm (1979), Scand. J. Statist. 6; Benjamini & Hochberg (1995), JRSS-B 57; Benjamini &
    Yekutieli (2001), Ann. Statist. 29; Hommel (1988), Biometrika 75.
    """
    raw = np.asarray(p_values, dtype=np.float64)
    finite = ~np.isnan(raw)
    if np.any((raw[finite] < 0.0) | (raw[finite] > 1.0)):
        nan = tuple(math.nan for _ in p_values)
        return MultipleTestingResult(nan, tuple(False for _ in p_values), ErrorCode.INVALID_INPUT)
    adjusted = np.full(raw.shape, np.nan)
    values = raw[finite]
    if values.size:
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        m = ordered.size
        if config.method == "holm":
            corrected = _holm(ordered)
        elif config.method == "bonferroni":
            corrected = np.minimum(ordered * m, 1.0)
        elif config.method == "bh":
            corrected = _bh(ordered)
        elif config.method == "by":
            corrected = np.minimum(_bh(ordered) * float(np.sum(1.0 / np.arange(1, m + 1))), 1.0)
        else:
            corrected = _hommel(ordered)
        unsorted = np.empty(m)
        unsorted[order] = corrected
        adjusted[finite] = unsorted
    rejected = tuple(bool(a <= config.alpha) for a in adjusted)
    return MultipleTestingResult(tuple(float(a) for a in adjusted), rejected)


def adjusted_confidence_interval(
    estimate: float,
    p_adjusted: float,
    config: FrequentistConfig = FrequentistConfig(),
) -> tuple[float, float]:
    """Confidence interval consistent with an adjusted p-value.

    An adjusted p-value next to an unadjusted interval contradicts itself (the interval
    excludes zero, the p-value says "not significant"); widening the interval to the
    standard error implied by the adjusted p-value makes the two agree: the interval excludes
    ``0`` exactly when ``p_adjusted < alpha``.

    Only the config's ``alpha`` and ``alternative`` are used, and ``p_adjusted`` is against
    zero.

    Notes
    -----
    Two-sided: ``estimate +- z_{1-alpha/2} |estimate| / z_{1-p_adj/2}``; one-sided: the
    matching half-line with ``z_{1-alpha}`` and ``z_{1-p_adj}``. ``(-inf, inf)`` when the
    adjusted p-value is 1 (or NaN) and nothing is learnt.

    References
    ----------
    GrowthBook ``setAdjustedCIs`` (packages/shared/src/experiments.ts).
    """
    two_sided = config.alternative == "two-sided"
    implied_z = float(sps.norm.isf(p_adjusted / 2.0 if two_sided else p_adjusted))
    if math.isnan(implied_z) or implied_z <= 0.0 or math.isnan(estimate):
        return (-math.inf, math.inf)
    se = abs(estimate) / implied_z  # 0 when p_adjusted is 0: the interval is the point
    if two_sided:
        width = float(sps.norm.isf(config.alpha / 2.0)) * se
        return (estimate - width, estimate + width)
    width = float(sps.norm.isf(config.alpha)) * se
    if config.alternative == "greater":
        return (estimate - width, math.inf)
    return (-math.inf, estimate + width)
