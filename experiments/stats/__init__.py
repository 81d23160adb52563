"""Experiment statistics: pure functions from sufficient statistics to frozen results.

Arms are reduced to addable sufficient statistics (:class:`SampleStats`,
:class:`ProportionStats`, :class:`RatioStats`, :class:`RegressionAdjustedStats`); every test
takes a control and a treatment of the same kind plus a frozen config and returns a frozen
result. Nothing raises on data: a result that cannot be computed carries ``error`` (an
:class:`ErrorCode`) and NaN numbers. Configs validate themselves and raise ``ValueError``.

The numbers reproduce published references (GrowthBook gbstats, statsmodels, R, Spotify
Confidence, Evan Miller, Kohavi et al.); see ``tests/experiments/test_stats_reference.py``.
"""

from experiments.stats._bayesian import BayesianConfig, BayesianResult, GaussianPrior, bayesian_test
from experiments.stats._common import Alternative, Difference, ErrorCode
from experiments.stats._cuped import AdjustedArm, CupedResult, regression_adjustment
from experiments.stats._frequentist import (
    FrequentistConfig,
    FrequentistResult,
    post_stratified_test,
    two_proportion_z_test,
    welch_t_test,
)
from experiments.stats._guardrails import (
    GuardrailConfig,
    GuardrailResult,
    Verdict,
    guardrail_verdict,
)
from experiments.stats._multiple import (
    CorrectionMethod,
    MultipleTestingConfig,
    MultipleTestingResult,
    adjust_p_values,
    adjusted_confidence_interval,
)
from experiments.stats._power import (
    Baseline,
    DaysToSignificanceResult,
    MdeResult,
    PowerConfig,
    PowerResult,
    SampleSizeResult,
    calculator_sequential_mde,
    calculator_sequential_power,
    control_variance_sample_size,
    days_to_significance,
    minimum_detectable_effect,
    power,
    sample_size,
)
from experiments.stats._sequential import (
    GroupSequentialBounds,
    GroupSequentialConfig,
    MsprtConfig,
    SequentialConfig,
    SpendingFunction,
    group_sequential_bounds,
    msprt_test,
    sequential_test,
)
from experiments.stats._srm import SrmConfig, SrmResult, srm_check
from experiments.stats._statistics import (
    MetricStats,
    ProportionStats,
    RatioStats,
    RegressionAdjustedStats,
    SampleStats,
)

__all__ = [
    "AdjustedArm",
    "Alternative",
    "Baseline",
    "BayesianConfig",
    "BayesianResult",
    "CorrectionMethod",
    "CupedResult",
    "DaysToSignificanceResult",
    "Difference",
    "ErrorCode",
    "FrequentistConfig",
    "FrequentistResult",
    "GaussianPrior",
    "GroupSequentialBounds",
    "GroupSequentialConfig",
    "GuardrailConfig",
    "GuardrailResult",
    "MdeResult",
    "MetricStats",
    "MsprtConfig",
    "MultipleTestingConfig",
    "MultipleTestingResult",
    "PowerConfig",
    "PowerResult",
    "ProportionStats",
    "RatioStats",
    "RegressionAdjustedStats",
    "SampleSizeResult",
    "SampleStats",
    "SequentialConfig",
    "SpendingFunction",
    "SrmConfig",
    "SrmResult",
    "Verdict",
    "adjust_p_values",
    "adjusted_confidence_interval",
    "bayesian_test",
    "calculator_sequential_mde",
    "calculator_sequential_power",
    "control_variance_sample_size",
    "days_to_significance",
    "group_sequential_bounds",
    "guardrail_verdict",
    "minimum_detectable_effect",
    "msprt_test",
    "post_stratified_test",
    "power",
    "regression_adjustment",
    "sample_size",
    "sequential_test",
    "srm_check",
    "two_proportion_z_test",
    "welch_t_test",
]
