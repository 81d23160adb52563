"""Experiment statistics: pure functions from sufficient statistics to frozen results.

Arms are reduced to addable sufficient statistics (:class:`SampleStats`,
:class:`ProportionStats`, :class:`RatioStats`, :class:`RegressionAdjustedStats`); every test
takes a control and a treatment of the same kind plus a frozen config and returns a frozen
result. Nothing raises on data: a result that cannot be computed carries ``error`` (an
:class:`ErrorCode`) and NaN numbers. Configs validate themselves and raise ``ValueError``.

The numbers reproduce published references (GrowthBook gbstats, statsmodels, R, Spotify
Confidence, Evan Miller, Kohavi et al.); see ``tests/experiments/test_stats_reference.py``.

Conventions
-----------
The names below mean the same in every function, config and result of the package, so they
are described here once; a docstring elsewhere says only what is its own (the method, its
references and assumptions, and the settings or fields that exist only there).

``control``, ``treatment``
    The two arms' sufficient statistics (:data:`MetricStats`), of the same kind, else
    ``MIXED_STATISTICS``. :class:`ProportionStats` carry the Bernoulli variance;
    :class:`RegressionAdjustedStats` are CUPED-adjusted first (:func:`regression_adjustment`).
    A sequential test takes the cumulative statistics at the current look.
``config``
    The test's frozen settings; their defaults are the conventional ones.
``alpha``
    The significance level: a test rejects when ``p_value < alpha`` and its interval has
    coverage ``1 - alpha``. Sequential tests bound the probability of *ever* rejecting a
    true null, over all looks; a Bayesian read-out uses it for the credible interval.
``alternative`` (:data:`Alternative`)
    The sidedness. A one-sided test spends all of alpha on its side and its interval is
    one-sided: ``[lower, inf)`` for ``greater``, ``(-inf, upper]`` for ``less``.
``difference`` (:data:`Difference`)
    The scale of the lift, and of every amount given on it (``test_value``, margins,
    planned effects, priors).
``test_value``
    The lift under the null hypothesis, on the ``difference`` scale (a non-inferiority
    margin, say); 0 tests "no effect".
``estimate``, ``se``, ``ci``, ``p_value``, ``df``
    The lift on the configured scale, its standard error (the delta method's for a relative
    lift), its interval, the p-value against ``test_value``, and the degrees of freedom of the
    reference t distribution (``inf``: normal theory).
``error``
    ``None``, or the :class:`ErrorCode` (a plain ``str``) saying why a result could not be
    computed; its numbers are then NaN unless the result's class says otherwise.
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
