"""Guardrail verdicts: is the treatment hurting a metric it must not hurt?

Shared settings and result fields are described once in :mod:`experiments.stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from experiments.stats._common import (
    NAN,
    Alternative,
    Difference,
    check_positive,
    check_settings,
)
from experiments.stats._frequentist import FrequentistConfig, FrequentistResult, welch_t_test
from experiments.stats._sequential import SequentialConfig, sequential_test
from experiments.stats._statistics import MetricStats

Verdict = Literal["ok", "warning", "failing"]


@dataclass(frozen=True, slots=True)
class GuardrailConfig:
    """What counts as harm for one guardrail metric; ``alpha`` is the one-sided tests' level."""

    alpha: float = 0.05
    difference: Difference = "relative"
    higher_is_better: bool = True
    """Direction of improvement (``False`` for unsubscribes, complaints, latency)."""
    margin: float | None = None
    """Harm tolerated, as a positive amount on the ``difference`` scale (0.02: a 2% relative
    drop is acceptable). With a margin the verdict is a non-inferiority test; without one,
    any harmful point estimate warns."""
    sequential_tuning: float | None = None
    """N* to use the always-valid one-sided confidence sequence, for guardrails watched every
    day; ``None`` uses the fixed-horizon Welch test."""

    def __post_init__(self) -> None:
        check_settings(self.alpha, difference=self.difference)
        if self.margin is not None and not (math.isfinite(self.margin) and self.margin >= 0.0):
            raise ValueError(f"margin must be a finite non-negative number, got {self.margin!r}")
        if self.sequential_tuning is not None:
            check_positive(self.sequential_tuning, "sequential_tuning")


@dataclass(frozen=True, slots=True)
class GuardrailResult:
    """A guardrail's state, with the numbers behind it; with ``error`` set it is ``warning``."""

    verdict: Verdict
    """``failing``: significantly worse than tolerated; ``ok``: not harmful (or, with a margin,
    harm beyond the margin ruled out); ``warning``: in between, or not computable."""
    estimate: float
    """The lift (positive means the metric went up, whatever its direction of improvement)."""
    worst_plausible: float
    """The one-sided (1 - alpha) confidence bound on the harmful side of the lift."""
    p_value: float
    """One-sided p-value for "harm beyond the margin" (beyond 0 without a margin)."""
    error: str | None = None


def _one_sided(
    control: MetricStats,
    treatment: MetricStats,
    alternative: Alternative,
    test_value: float,
    config: GuardrailConfig,
) -> FrequentistResult:
    if config.sequential_tuning is None:
        fixed = FrequentistConfig(config.alpha, alternative, config.difference, test_value)
        return welch_t_test(control, treatment, fixed)
    sequential = SequentialConfig(
        config.alpha, alternative, config.difference, test_value, config.sequential_tuning
    )
    return sequential_test(control, treatment, sequential)


def guardrail_verdict(
    control: MetricStats,
    treatment: MetricStats,
    config: GuardrailConfig = GuardrailConfig(),
) -> GuardrailResult:
    """Verdict on one guardrail metric from a one-sided test in the harmful direction.

    A guardrail asks a one-sided question ("did it get worse?"), so it spends all of alpha on
    that side: a two-sided test would miss harm half as often as it should catch it.

    Notes
    -----
    With ``m`` the margin (0 when unset) and the harmful side "less" when higher is better:
    ``failing`` when the one-sided test of ``H0: lift >= -m`` rejects at alpha; otherwise
    ``ok`` when the one-sided (1 - alpha) bound on the harmful side is within ``-m`` (with a
    margin: non-inferiority shown) or, without a margin, when the estimate is not harmful;
    ``warning`` in the remaining cases.

    References
    ----------
    Kohavi, Tang & Xu (2020), "Trustworthy Online Controlled Experiments", ch. 21
    (guardrail metrics); Schuirmann (1987) on one-sided tests for non-inferiority.
    """
    margin = 0.0 if config.margin is None else config.margin
    # Express everything as "harm": sign flips the lift so that harm is negative.
    sign = 1.0 if config.higher_is_better else -1.0
    harmful: Alternative = "less" if config.higher_is_better else "greater"
    benign: Alternative = "greater" if config.higher_is_better else "less"
    harm = _one_sided(control, treatment, harmful, -sign * margin, config)
    if harm.error is not None:
        return GuardrailResult("warning", NAN, NAN, NAN, harm.error)
    bound_result = _one_sided(control, treatment, benign, 0.0, config)
    worst = bound_result.ci[0] if config.higher_is_better else bound_result.ci[1]
    verdict: Verdict
    if harm.p_value < config.alpha:
        verdict = "failing"
    elif config.margin is not None:
        verdict = "ok" if sign * worst >= -margin else "warning"
    else:
        verdict = "ok" if sign * harm.estimate >= 0.0 else "warning"
    return GuardrailResult(verdict, harm.estimate, worst, harm.p_value)
