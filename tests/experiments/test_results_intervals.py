"""Over HTTP: results name the test behind each p-value and show the bounded relative interval."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from scipy import stats as sps  # type: ignore[import-untyped]
from statsmodels.stats.proportion import (  # type: ignore[import-untyped]
    confint_proportions_2indep,
)

from tests.experiments.test_experiment_results import (
    Roles,
    send_every,
    start_experiment,
)


async def results(client: httpx.AsyncClient, roles: Roles, query: str = "") -> Any:
    r = await client.get(f"/v1/experiments/exp-small/results{query}", headers=roles["analyst"])
    assert r.status_code == 200, r.text
    return r.json() if not query.endswith("csv") else r.text


async def test_small_experiment_runs_fisher_and_a_bounded_relative_interval(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await start_experiment(client, role_keys, "exp-small")
    # 40 customers, one in eight converts: about 2.5 conversions expected per arm, well under
    # the 5 the pooled z test needs.
    await send_every(client, role_keys, "s", 40, "conversion", 8, value=5.0)
    body = await results(client, role_keys, "?metric=conversion_rate")
    rows = {row["variant"]: row for row in body["overall"]["variants"]}
    comparison = body["overall"]["comparisons"][0]
    c, t = rows["control"], rows[comparison["variant"]]
    assert comparison["test"] == "fisher_exact"
    table = [
        [t["conversions"], t["units"] - t["conversions"]],
        [c["conversions"], c["units"] - c["conversions"]],
    ]
    assert abs(comparison["p_value"] - sps.fisher_exact(table).pvalue) < 1e-8
    method = "log" if t["conversions"] and c["conversions"] else "log-adjusted"
    low, high = confint_proportions_2indep(
        t["conversions"], t["units"], c["conversions"], c["units"], method, "ratio"
    )
    assert comparison["relative_interval_method"] in ("log_ratio", "log_ratio_adjusted")
    assert comparison["relative_ci"][0] > -1.0
    assert abs(comparison["relative_ci"][0] - (low - 1.0)) < 1e-7
    assert abs(comparison["relative_ci"][1] - (high - 1.0)) < 1e-7
    # The CSV reads the same interval.
    text = await results(client, role_keys, "?metric=conversion_rate&format=csv")
    row = next(
        r
        for r in csv.DictReader(io.StringIO(text))
        if r["scope"] == "overall" and r["variant"] == comparison["variant"]
    )
    assert float(row["relative_ci_low"]) == comparison["relative_ci"][0]
    assert float(row["relative_ci_high"]) == comparison["relative_ci"][1]
    # Revenue per unit (CUPED-adjusted means) reports the log-ratio Welch test.
    revenue = await results(client, role_keys, "?metric=revenue_per_unit")
    money = revenue["overall"]["comparisons"][0]
    if money["error"] is None:
        assert money["test"] == "log_ratio_t"
        assert money["relative_interval_method"] == "log_ratio"
        assert money["relative_ci"][0] > -1.0
