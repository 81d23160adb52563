"""Sample ratio mismatch: is the observed split of units the split the experiment asked for?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps  # type: ignore[import-untyped]

from experiments.stats._common import NAN, ErrorCode, check_alpha


@dataclass(frozen=True, slots=True)
class SrmConfig:
    """When a split counts as mismatched."""

    threshold: float = 0.001
    """Flag a mismatch when the p-value is below this. 0.001 rather than 0.05 because the
    check runs on every experiment, every segment and every day: a 5% threshold would cry
    wolf constantly, while real assignment bugs produce p-values far smaller."""

    def __post_init__(self) -> None:
        check_alpha(self.threshold, "threshold")


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Outcome of the sample-ratio check: Pearson's chi-square on ``df`` = variants - 1.

    When there was nothing to check, ``error`` says why and ``p_value`` is 1, not NaN, so that
    no mismatch is flagged.
    """

    statistic: float
    df: int
    p_value: float
    mismatch: bool
    """``p_value < threshold``: the results are not trustworthy until the cause is found."""
    error: str | None = None


def srm_check(
    units: Sequence[int],
    weights: Sequence[float],
    config: SrmConfig = SrmConfig(),
) -> SrmResult:
    """Chi-square goodness-of-fit of units per variant against the configured weights.

    A split that differs from the configured one (bots filtered in one arm, a redirect that
    loses users, a crash in the treatment) biases every metric in ways no test corrects;
    Kohavi et al. find it in about 6% of experiments, so it is checked before any lift is read.

    Parameters
    ----------
    units : sequence of int
        Units (exposed customers) per variant.
    weights : sequence of float
        Configured traffic weights, same order; they need not sum to 1. Variants with weight
        0 (paused or ramped down) are left out, as GrowthBook does.

    Notes
    -----
    ``statistic = sum_i (o_i - e_i)^2 / e_i`` with ``e_i = N w_i / sum w`` over the variants
    with positive weight, ``p = P(chi2_{k-1} > statistic)``. With fewer than two such
    variants, no units, or mismatched lengths, ``p_value = 1`` and ``error`` is set.

    References
    ----------
    Fabijan, Gupchup, Gupta, Omhover, Qin, Vermeer & Dmitriev (2019), "Diagnosing Sample
    Ratio Mismatch in Online Controlled Experiments", KDD; GrowthBook ``checkSrm``.
    """
    if (
        len(units) != len(weights)
        or any(u < 0 for u in units)
        or any(not math.isfinite(w) or w < 0 for w in weights)
    ):
        return SrmResult(NAN, 0, 1.0, False, ErrorCode.INVALID_INPUT)
    kept = [(float(u), float(w)) for u, w in zip(units, weights, strict=True) if w > 0]
    if len(kept) < 2:
        return SrmResult(NAN, 0, 1.0, False, ErrorCode.SINGLE_VARIANT)
    total_units = sum(u for u, _ in kept)
    if total_units <= 0:
        return SrmResult(NAN, len(kept) - 1, 1.0, False, ErrorCode.NO_UNITS)
    total_weight = sum(w for _, w in kept)
    statistic = 0.0
    for observed, weight in kept:
        expected = total_units * weight / total_weight
        statistic += (observed - expected) ** 2 / expected
    df = len(kept) - 1
    p = float(sps.chi2.sf(statistic, df))
    return SrmResult(statistic, df, p, p < config.threshold)
