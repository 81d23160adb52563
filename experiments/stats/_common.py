"""Vocabulary shared by every test: sidedness, difference scale, error codes, config checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, get_args

import numpy as np
from scipy import special  # type: ignore[import-untyped]

Alternative = Literal["two-sided", "greater", "less"]
"""``greater``: the treatment is hypothesised above control; ``less``: below."""

Difference = Literal["absolute", "relative"]
"""``absolute``: mean_T - mean_C; ``relative``: (mean_T - mean_C) / |mean_C|."""

NAN = math.nan


class ErrorCode(StrEnum):
    """Why a statistic could not be computed.

    Results carry one of these in ``error`` (a plain ``str``, so it serialises as is) instead of
    raising: a results page shows the other cells and says why this one is empty.
    """

    TOO_FEW_UNITS = "TOO_FEW_UNITS"
    """Fewer than two units in an arm: no variance can be estimated."""
    ZERO_VARIANCE = "ZERO_VARIANCE"
    """The estimate has no sampling variance (e.g. nobody converted in either arm)."""
    ZERO_BASELINE = "ZERO_BASELINE"
    """Relative lift over a control mean of zero (or a ratio over a zero denominator)."""
    MIXED_STATISTICS = "MIXED_STATISTICS"
    """Control and treatment statistics are of different kinds."""
    NO_UNITS = "NO_UNITS"
    """No units at all (SRM over an empty experiment, or no usable stratum)."""
    SINGLE_VARIANT = "SINGLE_VARIANT"
    """Fewer than two variants to compare (SRM with one variant of positive weight)."""
    INVALID_INPUT = "INVALID_INPUT"
    """Inputs no data could produce (sums implying a negative variance, lengths that differ,
    negative counts)."""
    UNREACHABLE = "UNREACHABLE"
    """A power target that no finite sample size (or effect) attains."""
    NO_TRAFFIC = "NO_TRAFFIC"
    """Days to significance with no daily traffic."""


def check_alpha(alpha: float, name: str = "alpha") -> None:
    """Reject a significance level outside (0, 1): a config error, so it raises."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {alpha!r}")


def check_choice(value: str, allowed: object, name: str) -> None:
    """Reject a string outside a ``Literal``: frozen configs validate themselves."""
    choices = get_args(allowed)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_settings(
    alpha: float, alternative: str | None = None, difference: str | None = None
) -> None:
    """The checks every test's config shares; ``None`` for a setting the test does not have."""
    check_alpha(alpha)
    if alternative is not None:
        check_choice(alternative, Alternative, "alternative")
    if difference is not None:
        check_choice(difference, Difference, "difference")


def check_positive(value: float, name: str) -> None:
    """Reject a non-positive or non-finite tuning value."""
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True, slots=True)
class LiftSettings:
    """The settings a fixed-horizon, sequential or planned lift test starts with.

    Declared once so that the tests' defaults cannot drift apart: a plan made with the
    defaults is read out with the same level, sidedness and scale. A subclass's
    ``__post_init__`` calls this one by name before checking its own settings: a
    zero-argument ``super()`` fails in a ``slots=True`` dataclass on Python 3.11.
    """

    alpha: float = 0.05
    alternative: Alternative = "two-sided"
    difference: Difference = "relative"

    def __post_init__(self) -> None:
        check_settings(self.alpha, self.alternative, self.difference)


# Normal and Student t tails at scalar speed. scipy.stats' distribution methods validate and
# broadcast their arguments on every call (tens of microseconds each); a results query makes
# hundreds of these calls. These are the same scipy.special functions scipy.stats evaluates
# underneath, with its argument rules (NaN for a non-positive scale or a probability outside
# [0, 1]), so the numbers are identical (tests/experiments/test_stats_fast.py compares them).

_NORM_PDF_C = np.sqrt(2 * np.pi)


def norm_cdf(x: float) -> float:
    return float(special.ndtr(x))


def norm_sf(x: float, loc: float = 0.0, scale: float = 1.0) -> float:
    if not scale > 0.0:
        return NAN
    return float(special.ndtr(-((x - loc) / scale)))


def norm_pdf(x: float) -> float:
    return float(np.exp(-(np.asarray(x) ** 2) / 2.0) / _NORM_PDF_C)


def norm_ppf(q: float, loc: float = 0.0, scale: float = 1.0) -> float:
    if not (scale > 0.0 and 0.0 <= q <= 1.0):
        return NAN
    return float(special.ndtri(q)) * scale + loc


def norm_isf(q: float) -> float:
    return -float(special.ndtri(q)) if 0.0 <= q <= 1.0 else NAN


def t_sf(x: float, df: float) -> float:
    return float(special.stdtr(df, -x)) if df > 0.0 else NAN


def t_isf(q: float, df: float) -> float:
    if not (df > 0.0 and 0.0 <= q <= 1.0):
        return NAN
    if q in (0.0, 1.0):  # the support's ends, as scipy.stats returns them
        return math.inf if q == 0.0 else -math.inf
    return -float(special.stdtrit(df, q))
