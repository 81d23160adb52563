"""Relative intervals that respect the metric's range, and exact tests for small samples.

The log-ratio interval is checked against statsmodels (an independent implementation of the
log risk-ratio interval) and by simulation: its coverage of the true relative lift is
95% +- 1.5% for proportions and means, small and large samples, with and without an effect.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps  # type: ignore[import-untyped]
from scipy.stats import contingency  # type: ignore[import-untyped]
from statsmodels.stats.proportion import (  # type: ignore[import-untyped]
    confint_proportions_2indep,
)

from experiments.stats import (
    FrequentistConfig,
    ProportionStats,
    RatioStats,
    RegressionAdjustedStats,
    SampleStats,
    SequentialConfig,
    post_stratified_test,
    sequential_test,
    two_proportion_z_test,
    welch_t_test,
)

DELTA = FrequentistConfig(relative_interval="delta")


def test_a_large_drop_in_a_small_sample_stays_above_minus_100_percent() -> None:
    # 20% of 50 convert in control, 2% in treatment: the linear delta interval reaches -110%.
    control, treatment = ProportionStats(50, 10), ProportionStats(50, 1)
    old = two_proportion_z_test(control, treatment, DELTA)
    assert old.ci[0] < -1.0
    new = two_proportion_z_test(control, treatment)
    assert new.interval_method == "log_ratio"
    assert -1.0 < new.ci[0] < new.estimate < new.ci[1]
    assert new.p_value == old.p_value  # the same pooled z test of equal rates


def test_every_metric_kind_gets_the_bounded_interval() -> None:
    # Twelve customers per arm; treatment spends a tenth of control's, with one big spender.
    c_rev = np.array([32.9, 4.9, 9.4, 10.0, 8.0, 13.2, 8.3, 8.9, 0.2, 3.5, 28.5, 1.4])
    t_rev = np.array([0.0, 14.0, 0.2, 2.4, 0.4, 0.3, 0.7, 1.3, 0.7, 0.7, 1.3, 1.4])
    c_pre = np.array([11.0, 1.3, 10.0, 24.7, 4.2, 19.3, 12.6, 0.6, 2.4, 9.4, 1.5, 4.8])
    t_pre = np.array([4.3, 1.5, 10.3, 0.6, 8.1, 19.4, 2.4, 6.8, 8.8, 25.8, 6.9, 5.5])
    orders_c = np.array([1.0, 3, 2, 3, 1, 3, 3, 1, 2, 3, 1, 1])
    orders_t = np.array([1.0, 1, 2, 1, 2, 3, 1, 2, 2, 2, 1, 2])
    means = (SampleStats.from_values(c_rev), SampleStats.from_values(t_rev))

    def cuped(y: np.ndarray, x: np.ndarray) -> RegressionAdjustedStats:
        return RegressionAdjustedStats(
            len(y), float(y.sum()), float(y @ y), float(x.sum()), float(x @ x), float(x @ y)
        )

    def ratio(m: np.ndarray, d: np.ndarray) -> RatioStats:
        return RatioStats(len(m), m.sum(), m @ m, d.sum(), d @ d, m @ d)

    cases = [
        means,
        (cuped(c_rev, c_pre), cuped(t_rev, t_pre)),
        (ratio(c_rev, orders_c), ratio(t_rev, orders_t)),
    ]
    for control, treatment in cases:
        old = welch_t_test(control, treatment, DELTA)  # type: ignore[arg-type]
        new = welch_t_test(control, treatment)  # type: ignore[arg-type]
        assert old.ci[0] < -1.0, type(control)
        assert new.interval_method == "log_ratio"
        assert new.test == "log_ratio_t"
        assert -1.0 < new.ci[0] < new.ci[1]
    strata = [means]  # one segment: the same small arms
    assert post_stratified_test(strata, DELTA).ci[0] < -1.0
    stratified = post_stratified_test(strata)
    assert stratified.interval_method == "log_ratio"
    assert stratified.ci[0] > -1.0


def test_the_confidence_sequence_is_bounded_too() -> None:
    control, treatment = ProportionStats(300, 40), ProportionStats(300, 6)
    old = sequential_test(control, treatment, SequentialConfig(relative_interval="delta"))
    assert old.ci[0] < -1.0
    new = sequential_test(control, treatment)
    assert (new.test, new.interval_method) == ("sequential", "log_ratio")
    assert -1.0 < new.ci[0] < new.estimate < new.ci[1] < 0.0
    assert new.p_value < 0.05  # the interval excludes 0, and the p-value says so
    # Centred on the log ratio, standardised by the log risk ratio's standard error.
    centre = math.log((6 / 300) / (40 / 300))
    log_se = math.sqrt((1 - 6 / 300) / 6 + (1 - 40 / 300) / 40)
    assert (math.log1p(new.ci[0]) + math.log1p(new.ci[1])) / 2 == pytest.approx(centre)
    assert new.statistic == pytest.approx(centre / log_se)
    # 30 conversions in control: the sequence reaches +1.5%, and p is above 0.05.
    wider = sequential_test(ProportionStats(300, 30), treatment)
    assert wider.ci[1] > 0.0
    assert wider.p_value > 0.05


def test_absolute_intervals_are_unchanged() -> None:
    control, treatment = SampleStats.from_values([1.0, 2, 3, 9]), SampleStats.from_values([0, 1.0])
    absolute = FrequentistConfig(difference="absolute")
    result = welch_t_test(control, treatment, absolute)
    expected = sps.ttest_ind([0, 1.0], [1.0, 2, 3, 9], equal_var=False)
    low, high = expected.confidence_interval()
    assert result.ci == pytest.approx((low, high), rel=1e-12)
    assert result.interval_method == "wald"
    assert result.test == "welch_t"


@pytest.mark.parametrize(
    ("control", "treatment"),
    [((200, 31), (200, 44)), ((1000, 12), (1000, 5)), ((50, 10), (50, 1)), ((80, 79), (90, 88))],
)
def test_proportion_interval_reproduces_statsmodels_log_risk_ratio(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    for alpha in (0.05, 0.1):
        result = two_proportion_z_test(
            ProportionStats(*control), ProportionStats(*treatment), FrequentistConfig(alpha=alpha)
        )
        low, high = confint_proportions_2indep(
            treatment[1], treatment[0], control[1], control[0], "log", "ratio", alpha
        )
        assert result.ci[0] + 1.0 == pytest.approx(low, rel=1e-9, abs=1e-12)
        assert result.ci[1] + 1.0 == pytest.approx(high, rel=1e-9, abs=1e-12)


def test_no_treatment_conversions_use_statsmodels_log_adjusted_interval() -> None:
    result = two_proportion_z_test(ProportionStats(40, 6), ProportionStats(40, 0))
    low, high = confint_proportions_2indep(0, 40, 6, 40, "log-adjusted", "ratio")
    assert result.interval_method == "log_ratio_adjusted"
    assert result.ci[0] + 1.0 == pytest.approx(low, rel=1e-9)
    assert result.ci[1] + 1.0 == pytest.approx(high, rel=1e-9)


def test_mean_interval_is_the_textbook_log_ratio_formula() -> None:
    c = np.array([3.0, 5, 8, 2, 9, 4, 4, 7])
    t = np.array([6.0, 9, 4, 11, 8, 12, 7])
    result = welch_t_test(SampleStats.from_values(c), SampleStats.from_values(t))
    a = c.var(ddof=1) / (len(c) * c.mean() ** 2)
    b = t.var(ddof=1) / (len(t) * t.mean() ** 2)
    df = (a + b) ** 2 / (a**2 / (len(c) - 1) + b**2 / (len(t) - 1))
    half = sps.t.isf(0.025, df) * math.sqrt(a + b)
    centre = math.log(t.mean() / c.mean())
    assert result.ci == pytest.approx((math.expm1(centre - half), math.expm1(centre + half)))
    assert result.p_value == pytest.approx(2 * sps.t.sf(abs(centre) / math.sqrt(a + b), df))


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.lists(st.integers(0, 10**6).map(lambda cents: cents / 100), min_size=2, max_size=30),
        min_size=2,
        max_size=2,
    ),
    alternative=st.sampled_from(["two-sided", "greater", "less"]),
)
def test_mean_interval_and_p_value_agree_and_stay_in_range(
    values: list[list[float]], alternative: str
) -> None:
    config = FrequentistConfig(alternative=alternative)  # type: ignore[arg-type]
    result = welch_t_test(
        SampleStats.from_values(values[0]), SampleStats.from_values(values[1]), config
    )
    if result.error is not None or result.interval_method != "log_ratio":
        return
    assert result.ci[0] >= -1.0
    excludes_zero = result.ci[0] > 0.0 or result.ci[1] < 0.0
    if abs(result.p_value - config.alpha) > 1e-9:
        assert excludes_zero == (result.p_value < config.alpha)


@settings(max_examples=200, deadline=None)
@given(
    n_c=st.integers(2, 400),
    n_t=st.integers(2, 400),
    share_c=st.floats(0.0, 1.0),
    share_t=st.floats(0.0, 1.0),
    alternative=st.sampled_from(["two-sided", "greater", "less"]),
)
def test_fisher_exact_runs_exactly_when_an_expected_cell_is_below_five(
    n_c: int, n_t: int, share_c: float, share_t: float, alternative: str
) -> None:
    x_c, x_t = round(n_c * share_c), round(n_t * share_t)
    config = FrequentistConfig(alternative=alternative)  # type: ignore[arg-type]
    result = two_proportion_z_test(ProportionStats(n_c, x_c), ProportionStats(n_t, x_t), config)
    if result.error is not None:
        return
    table = np.array([[x_t, n_t - x_t], [x_c, n_c - x_c]])
    small = contingency.expected_freq(table).min() < 5.0
    assert result.test == ("fisher_exact" if small else "pooled_z")
    if small:
        expected = sps.fisher_exact(table, alternative=alternative).pvalue
        assert result.p_value == pytest.approx(expected, rel=1e-12)
    else:
        z = result.statistic
        tails = {
            "two-sided": 2 * sps.norm.sf(abs(z)),
            "greater": sps.norm.sf(z),
            "less": sps.norm.sf(-z),
        }
        assert result.p_value == pytest.approx(min(tails[alternative], 1.0), rel=1e-9)


def test_the_switch_happens_at_the_documented_threshold() -> None:
    # 20 units per arm and 10 conversions in all: every expected cell is 20 * 10 / 40 = 5.
    at_threshold = two_proportion_z_test(ProportionStats(20, 4), ProportionStats(20, 6))
    assert at_threshold.test == "pooled_z"
    # 9 conversions in all: the smallest expected cell is 4.5.
    below = two_proportion_z_test(ProportionStats(20, 4), ProportionStats(20, 5))
    assert below.test == "fisher_exact"
    assert below.p_value == sps.fisher_exact([[5, 15], [4, 16]]).pvalue
    never = FrequentistConfig(exact_below=0.0)
    assert two_proportion_z_test(ProportionStats(20, 4), ProportionStats(20, 5), never).test == (
        "pooled_z"
    )
    with pytest.raises(ValueError, match="exact_below"):
        FrequentistConfig(exact_below=-1.0)


def _coverage_proportions(n: int, p_c: float, lift: float, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    x_c, x_t = rng.binomial(n, p_c, reps), rng.binomial(n, p_c * (1 + lift), reps)
    hits = 0
    for c, t in zip(x_c, x_t, strict=True):
        ci = two_proportion_z_test(ProportionStats(n, int(c)), ProportionStats(n, int(t))).ci
        hits += ci[0] <= lift <= ci[1]
    return hits / reps


def _coverage_means(n: int, lift: float, reps: int, seed: int) -> float:
    # Gamma revenue (shape 2: skewed like order values) scaled by 1 + lift in treatment.
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        c = rng.gamma(2.0, 5.0, n)
        t = rng.gamma(2.0, 5.0 * (1 + lift), n)
        ci = welch_t_test(SampleStats.from_values(c), SampleStats.from_values(t)).ci
        hits += ci[0] <= lift <= ci[1]
    return hits / reps


@pytest.mark.parametrize("lift", [0.0, 0.3, -0.5])
@pytest.mark.parametrize(("n", "p_c"), [(150, 0.2), (20_000, 0.05)])
def test_coverage_of_the_relative_lift_for_proportions(n: int, p_c: float, lift: float) -> None:
    # 4,000 replications: one standard error of a 95% coverage is 0.34 points.
    assert (
        abs(_coverage_proportions(n, p_c, lift, 4_000, seed=n + round(100 * lift) + 100) - 0.95)
        < 0.015
    )


@pytest.mark.parametrize("lift", [0.0, 0.3, -0.5])
@pytest.mark.parametrize("n", [30, 2_000])
def test_coverage_of_the_relative_lift_for_means(n: int, lift: float) -> None:
    assert abs(_coverage_means(n, lift, 4_000, seed=n + round(100 * lift) + 100) - 0.95) < 0.015


def test_a_nonnegative_metric_without_a_log_ratio_is_held_at_minus_100_percent() -> None:
    # A CUPED-adjusted holdout that earns nothing: its adjusted mean is slightly negative, so
    # there is no log ratio and the linear delta interval (and estimate) pass -100%.
    control = RegressionAdjustedStats(
        n=500,
        sum=600.0,
        sum_squares=9_000.0,
        pre_sum=400.0,
        pre_sum_squares=5_000.0,
        sum_products=3_000.0,
    )
    treatment = RegressionAdjustedStats(
        n=250, sum=0.0, sum_squares=0.0, pre_sum=260.0, pre_sum_squares=3_400.0, sum_products=0.0
    )
    plain = welch_t_test(control, treatment, FrequentistConfig())
    assert plain.interval_method == "delta"
    assert min(plain.estimate, *plain.ci) < -1.0
    held = welch_t_test(control, treatment, FrequentistConfig(nonnegative=True))
    assert held.interval_method == "delta_truncated"
    assert held.estimate == -1.0
    assert held.ci[0] == -1.0
    assert held.ci[1] == max(plain.ci[1], -1.0)
    # the test is the same test: only the impossible part of the interval is cut away
    assert held.p_value == plain.p_value
    # a metric whose log ratio exists is untouched
    a, b = SampleStats(200, 300.0, 2_000.0), SampleStats(200, 250.0, 1_500.0)
    assert welch_t_test(a, b, FrequentistConfig(nonnegative=True)) == welch_t_test(a, b)
