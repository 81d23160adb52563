"""CUPED for conversion rate: the pre-period purchase indicator as covariate, checked against a
regression adjustment computed from the units themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import statsmodels.api as sm  # type: ignore[import-untyped]
from scipy import stats as sps  # type: ignore[import-untyped]

from experiments.stats import FrequentistConfig, RegressionAdjustedStats, welch_t_test
from experiments.stats import regression_adjustment as cuped
from tests.experiments.test_experiment_results import (
    EXPERIMENT,
    Roles,
    send,
    send_every,
    start_experiment,
)

Floats = npt.NDArray[np.float64]


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


async def bought_before(client: httpx.AsyncClient, roles: Roles, customer: str) -> None:
    """A purchase 10 days before exposure: the unit's pre-period conversion indicator is 1."""
    r = await client.post(
        f"/v1/customers/{customer}/activities",
        json={"type": "purchase", "channel": "web", "value": 20.0, "timestamp": ago(10)},
        headers=roles["decide"],
    )
    assert r.status_code == 200, r.text


async def convert(
    client: httpx.AsyncClient, roles: Roles, customer: str, decision: dict[str, Any], value: float
) -> None:
    event = {
        "event_id": f"c-{customer}",
        "decision_id": decision["decision_id"],
        "offer_id": decision["offers"][0]["offer_id"],
        "type": "conversion",
        "value": value,
    }
    r = await client.post("/v1/events", json=event, headers=roles["decide"])
    assert r.status_code == 200, r.text


async def results(client: httpx.AsyncClient, roles: Roles, experiment: str, query: str) -> Any:
    r = await client.get(f"/v1/experiments/{experiment}/results{query}", headers=roles["analyst"])
    assert r.status_code == 200, r.text
    return r.json()


def regression_adjusted(
    y: Floats, x: Floats, treated: npt.NDArray[np.bool_]
) -> tuple[float, float, float, float]:
    """(theta, adjusted difference, its standard error, Welch df) from unit-level data.

    theta is the least-squares slope of y on x over all units; each unit's adjusted value is
    y - theta x, and the difference of the arms' adjusted means gets the unequal-variance
    standard error of two independent means.
    """
    design = np.column_stack([np.ones_like(x), x])
    theta = float(np.linalg.lstsq(design, y, rcond=None)[0][1])
    adjusted = y - theta * x
    a, b = adjusted[treated], adjusted[~treated]
    var_t, var_c = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (var_t + var_c) ** 2 / (var_t**2 / (a.size - 1) + var_c**2 / (b.size - 1))
    return theta, float(a.mean() - b.mean()), float(np.sqrt(var_t + var_c)), float(df)


def raw_variance(y: Floats, treated: npt.NDArray[np.bool_]) -> float:
    a, b = y[treated], y[~treated]
    return float(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)


async def test_conversion_rate_is_adjusted_on_the_pre_period_indicator(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    body = {**EXPERIMENT, "secondary_metrics": ["revenue_per_unit"]}
    await start_experiment(client, role_keys, "exp-cuped", body)
    rng = np.random.default_rng(12)
    x, y, treated = [], [], []
    for i in range(160):
        customer = f"cu-{i}"
        history = i % 2 == 0
        if history:
            await bought_before(client, role_keys, customer)
        decision = await send(client, role_keys, customer, "")
        bandit = decision["experiment"]["variant"] == "bandit"
        # Customers who bought before buy again far more often: the indicator predicts y.
        converts = bool(rng.random() < (0.45 if history else 0.08) + (0.2 if bandit else 0.0))
        if converts:
            await convert(
                client, role_keys, customer, decision, round(float(rng.uniform(20, 40)), 2)
            )
        x.append(1.0 if history else 0.0)
        y.append(1.0 if converts else 0.0)
        treated.append(bandit)
    xs, ys, ts = np.array(x), np.array(y), np.array(treated)
    out = await results(client, role_keys, "exp-cuped", "?metric=conversion_rate&by=none")
    comparison = out["overall"]["comparisons"][0]
    assert comparison["covariate"] == "pre_period_conversion"
    assert comparison["cuped_skipped"] is None
    theta, difference, se, df = regression_adjusted(ys, xs, ts)
    assert abs(comparison["theta"] - theta) < 1e-8
    assert abs(comparison["absolute_lift"] - difference) < 1e-8
    half = float(sps.t.isf(0.025, df)) * se
    assert abs(comparison["absolute_ci"][0] - (difference - half)) < 1e-8
    assert abs(comparison["absolute_ci"][1] - (difference + half)) < 1e-8
    assert abs(comparison["relative_lift"] - difference / ys[~ts].mean()) < 1e-8
    reduction = 1.0 - se**2 / raw_variance(ys, ts)
    assert abs(comparison["variance_reduction"] - reduction) < 1e-8
    assert comparison["variance_reduction"] > 0.1
    assert comparison["test"] == "log_ratio_t"
    # The ANCOVA regression y ~ 1 + T + x fits x on the within-arm slope instead of the pooled
    # one; by Frisch-Waugh-Lovell its T coefficient differs from CUPED's difference by exactly
    # (theta - slope) x (x-bar_T - x-bar_C), and its robust standard error is close.
    ols = sm.OLS(ys, sm.add_constant(np.column_stack([ts.astype(float), xs]))).fit(cov_type="HC2")
    slope = float(ols.params[2])
    shift = (theta - slope) * (xs[ts].mean() - xs[~ts].mean())
    assert abs(float(ols.params[1]) - shift - comparison["absolute_lift"]) < 1e-8
    assert abs(float(ols.bse[1]) / se - 1.0) < 0.05
    # The multiple-testing family of a revenue query holds the same conversion p-value: with
    # Benjamini-Hochberg over the two metrics, revenue's adjusted p is its own when it is the
    # larger, else min(2 p_revenue, p_conversion) (here: p_conversion).
    query = "?metric=revenue_per_unit&by=none&correction=bh"
    revenue = (await results(client, role_keys, "exp-cuped", query))["overall"]["comparisons"][0]
    assert revenue["covariate"] == "pre_period_revenue"
    p_conversion, p_revenue = comparison["p_value"], revenue["p_value"]
    expected = p_revenue if p_revenue >= p_conversion else min(2 * p_revenue, p_conversion)
    assert abs(revenue["p_value_adjusted"] - expected) < 1e-8


async def test_a_holdout_nobody_converts_in_keeps_the_bounded_proportion_interval(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    body = {
        **EXPERIMENT,
        "variants": [
            {"id": "control", "weight": 0.5, "treatment": {"policy": "rules"}},
            {"id": "holdout", "weight": 0.5, "treatment": {"policy": "holdout"}},
        ],
    }
    await start_experiment(client, role_keys, "exp-hold", body)
    for i in range(60):
        customer = f"ho-{i}"
        if i % 3 == 0:
            await bought_before(client, role_keys, customer)
        decision = await send(client, role_keys, customer, "")
        if decision["offers"] and i % 2 == 0:
            await convert(client, role_keys, customer, decision, 9.0)
    out = await results(client, role_keys, "exp-hold", "?metric=conversion_rate&by=none")
    comparison = out["overall"]["comparisons"][0]
    # Adjusting a holdout with no conversions would give it a negative rate (-theta x-bar)
    # and a relative lift below -100%; the proportion test's interval stays above it.
    assert comparison["cuped_skipped"] == "arm_without_variance"
    assert comparison["covariate"] is None
    assert comparison["variance_reduction"] is None
    assert comparison["relative_lift"] == -1.0
    assert comparison["relative_ci"][0] > -1.0
    assert comparison["test"] == "pooled_z"


async def test_without_pre_period_history_conversion_keeps_the_pooled_z_test(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await start_experiment(client, role_keys, "exp-new")
    await send_every(client, role_keys, "nh", 60, "conversion", 3, value=5.0)
    out = await results(client, role_keys, "exp-new", "?metric=conversion_rate&by=none")
    comparison = out["overall"]["comparisons"][0]
    assert comparison["cuped_skipped"] == "no_covariate_variance"
    assert comparison["variance_reduction"] is None
    assert comparison["test"] == "pooled_z"


def _arms(
    rng: np.random.Generator, n: int, strength: float
) -> tuple[Floats, Floats, npt.NDArray[np.bool_]]:
    # x: bought in the pre-period (35%); y converts at 6%, plus ``strength`` for buyers.
    x = (rng.random(2 * n) < 0.35).astype(np.float64)
    y = (rng.random(2 * n) < 0.06 + strength * x).astype(np.float64)
    treated = np.arange(2 * n) >= n
    return x, y, treated


def _sums(x: Floats, y: Floats) -> RegressionAdjustedStats:
    # What the cells hold for a rate: units, conversions, pre-period converters and units with
    # both; a 0/1 value is its own square.
    conv, prec, both = float(y.sum()), float(x.sum()), float(x @ y)
    return RegressionAdjustedStats(x.size, conv, conv, prec, prec, both)


def test_cuped_on_an_indicator_is_the_regression_adjustment_of_the_units() -> None:
    x, y, treated = _arms(np.random.default_rng(3), 20_000, 0.25)
    control, treatment = _sums(x[~treated], y[~treated]), _sums(x[treated], y[treated])
    result = welch_t_test(control, treatment, FrequentistConfig(difference="absolute"))
    theta, difference, se, df = regression_adjusted(y, x, treated)
    assert abs(cuped(control, treatment).theta - theta) < 1e-12
    assert abs(result.estimate - difference) < 1e-12
    assert abs(result.se / se - 1.0) < 1e-9
    assert abs(result.df / df - 1.0) < 1e-9
    reduction = cuped(control, treatment).variance_reduction
    assert abs(reduction - (1.0 - se**2 / raw_variance(y, treated))) < 1e-9
    # For large samples the reduction approaches rho^2, the squared pre/post correlation.
    assert abs(reduction - float(np.corrcoef(x, y)[0, 1] ** 2)) < 0.01


def test_variance_reduction_is_positive_exactly_when_the_indicator_predicts() -> None:
    rng = np.random.default_rng(5)
    x, y, treated = _arms(rng, 5_000, 0.3)
    correlated = cuped(_sums(x[~treated], y[~treated]), _sums(x[treated], y[treated]))
    assert correlated.variance_reduction > 0.1
    x, y, treated = _arms(rng, 5_000, 0.0)
    unrelated = cuped(_sums(x[~treated], y[~treated]), _sums(x[treated], y[treated]))
    assert abs(unrelated.variance_reduction) < 0.005
