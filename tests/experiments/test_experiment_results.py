"""End to end over HTTP: an experiment's results count exactly the decisions and events sent."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import httpx

from experiments import assign, parse_experiment
from tests.experiments.conftest import NboCli
from tests.experiments.documents import policy_variants

Roles = dict[str, dict[str, str]]

EXPERIMENT = {
    "name": "Rules vs bandit",
    "status": "running",
    "variants": policy_variants(("control", 0.5, "rules"), ("bandit", 0.5, "bandit")),
    "control": "control",
}


async def setup(client: httpx.AsyncClient, roles: Roles) -> None:
    for offer_id in ("o-a", "o-b"):
        body = {"name": offer_id, "channels": {"web": {"title": offer_id}}, "value": 10.0}
        r = await client.put(f"/v1/offers/{offer_id}", json=body, headers=roles["marketer"])
        assert r.status_code == 200
    segment = {"name": "Gold", "rule": {"all": [{"field": "tier", "op": "eq", "value": "gold"}]}}
    await client.put(
        "/v1/customers/seed", json={"attributes": {"tier": "gold"}}, headers=roles["decide"]
    )
    r = await client.put("/v1/segments/gold", json=segment, headers=roles["marketer"])
    assert r.status_code == 200, r.text


async def start_experiment(
    client: httpx.AsyncClient,
    roles: Roles,
    experiment_id: str,
    body: dict[str, Any] | None = None,
) -> None:
    """The offers and segment of ``setup``, then the experiment, running."""
    await setup(client, roles)
    r = await client.put(
        f"/v1/experiments/{experiment_id}", json=body or EXPERIMENT, headers=roles["marketer"]
    )
    assert r.status_code == 200, r.text


async def send(
    client: httpx.AsyncClient, roles: Roles, customer: str, event_type: str, **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/v1/decisions", json={"customer_id": customer, "channel": "web"}, headers=roles["decide"]
    )
    body: dict[str, Any] = r.json()
    if event_type:
        event = {
            "event_id": f"e-{customer}-{event_type}",
            "decision_id": body["decision_id"],
            "offer_id": body["offers"][0]["offer_id"],
            "type": event_type,
            **extra,
        }
        r = await client.post("/v1/events", json=event, headers=roles["decide"])
        assert r.status_code == 200, r.text
    return body


async def send_every(
    client: httpx.AsyncClient,
    roles: Roles,
    prefix: str,
    customers: int,
    event_type: str,
    every: int,
    **extra: Any,
) -> None:
    """Decide for ``customers`` customers; every ``every``-th of them sends ``event_type``."""
    for i in range(customers):
        await send(client, roles, f"{prefix}-{i}", event_type if i % every == 0 else "", **extra)


async def test_results_match_the_events_sent_per_variant_and_segment(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await setup(client, role_keys)
    planned = {**EXPERIMENT, "minimum_detectable_effect": 0.1, "guardrail_metrics": ["click_rate"]}
    r = await client.put("/v1/experiments/exp-1", json=planned, headers=role_keys["marketer"])
    assert r.status_code == 200, r.text
    units: Counter[tuple[str, str]] = Counter()
    conversions: Counter[tuple[str, str]] = Counter()
    revenue: dict[tuple[str, str], float] = defaultdict(float)
    for i in range(240):
        customer = f"u-{i}"
        gold = i % 4 == 0
        if gold:
            await client.put(
                f"/v1/customers/{customer}",
                json={"attributes": {"tier": "gold"}},
                headers=role_keys["decide"],
            )
        converts = i % 5 == 0
        body = await send(client, role_keys, customer, "conversion" if converts else "", value=12.5)
        variant = body["experiment"]["variant"]
        for segment in ("all", "gold") if gold else ("all",):
            units[(variant, segment)] += 1
            if converts:
                conversions[(variant, segment)] += 1
                revenue[(variant, segment)] += 12.5
        if converts and i % 10 == 0:  # a second conversion adds revenue, not a unit conversion
            await send(client, role_keys, customer, "conversion", value=5.0)
            for segment in ("all", "gold") if gold else ("all",):
                revenue[(variant, segment)] += 5.0
    r = await client.get(
        "/v1/experiments/exp-1/results?metric=conversion_rate&by=segment",
        headers=role_keys["analyst"],
    )
    assert r.status_code == 200, r.text
    results = r.json()
    assert results["metric"] == "conversion_rate"
    assert results["srm"]["mismatch"] is False

    def check(block: dict[str, Any], segment: str) -> None:
        for row in block["variants"]:
            key = (row["variant"], segment)
            assert row["units"] == units[key]
            assert row["conversions"] == conversions[key]
            assert abs(row["revenue"] - revenue[key]) < 1e-6
            assert abs(row["value"] - conversions[key] / units[key]) < 1e-7

    check(results["overall"], "all")
    gold = next(s for s in results["segments"] if s["segment"] == "gold")
    check(gold, "gold")
    comparison = results["overall"]["comparisons"][0]
    assert comparison["variant"] == "bandit"
    assert comparison["p_value_adjusted"] >= comparison["p_value"]
    assert 0.0 <= comparison["chance_to_win"] <= 1.0
    assert results["daily"]
    assert results["power"]["minimum_detectable_effect_now"] > 0
    assert results["power"]["minimum_detectable_effect"] == 0.1
    assert (
        results["power"]["days_to_significance"] is None
        or results["power"]["days_to_significance"] >= 0
    )
    assert [g["metric"] for g in results["guardrails"]] == ["click_rate"]
    assert results["guardrails"][0]["verdict"] in ("ok", "warning", "failing")
    revenue_results = (
        await client.get(
            "/v1/experiments/exp-1/results?metric=revenue_per_unit", headers=role_keys["analyst"]
        )
    ).json()
    row = revenue_results["overall"]["variants"][0]
    assert (
        abs(row["value"] - revenue[(row["variant"], "all")] / units[(row["variant"], "all")]) < 1e-9
    )


async def test_srm_is_flagged_when_assignment_is_skewed(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await start_experiment(client, role_keys, "exp-2")
    experiment = parse_experiment(EXPERIMENT)
    bandit_seen = 0
    for i in range(400):
        customer = f"k-{i}"
        variant = assign(experiment, customer, experiment_id="exp-2")
        assert variant is not None
        if variant.id == "bandit":
            bandit_seen += 1
            if bandit_seen % 2:  # a broken integration drops half of one variant's exposures
                continue
        await send(client, role_keys, customer, "")
    results = (
        await client.get("/v1/experiments/exp-2/results", headers=role_keys["analyst"])
    ).json()
    assert results["srm"]["mismatch"] is True
    assert results["srm"]["p_value"] < 0.001


async def test_unknown_metric_is_refused(client: httpx.AsyncClient, role_keys: Roles) -> None:
    await client.put("/v1/experiments/exp-3", json=EXPERIMENT, headers=role_keys["marketer"])
    r = await client.get(
        "/v1/experiments/exp-3/results?metric=happiness", headers=role_keys["analyst"]
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "metric"


async def test_results_as_csv_and_the_html_report_from_the_cli(
    client: httpx.AsyncClient, role_keys: Roles, tmp_path: Any, nbo: NboCli
) -> None:
    await start_experiment(client, role_keys, "exp-r")
    await send_every(client, role_keys, "r", 40, "conversion", 4, value=9.0)
    r = await client.get("/v1/experiments/exp-r/results?format=csv", headers=role_keys["analyst"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert len(lines) >= 3  # header + one row per variant at least
    assert "control" in r.text
    assert "bandit" in r.text
    target = tmp_path / "report.html"
    await nbo("report", "exp-r", "--output", str(target))
    html = target.read_text()
    assert "Rules vs bandit" in html
    assert "<script" not in html.lower()


async def test_bandit_variants_are_evaluated_with_logged_propensities(
    client: httpx.AsyncClient, role_keys: Roles, settings: Any, store: Any
) -> None:
    from engine.learning.learner import Learner
    from engine.learning.policies import PolicyConfig

    await start_experiment(client, role_keys, "exp-a")
    await send_every(client, role_keys, "a", 80, "click", 3)
    learner = Learner(store, settings, PolicyConfig(), clock=lambda: 4_000_000_000.0)
    for scope in await learner.scopes():
        await learner.sweep_all(scope)
        while await learner.step(scope, block_ms=1):
            pass
    r = await client.get(
        "/v1/experiments/exp-a/results?adaptive=true", headers=role_keys["analyst"]
    )
    assert r.status_code == 200, r.text
    adaptive = r.json()["adaptive"]
    overall = next(a for a in adaptive if a["variant"] == "bandit" and a["segment"] == "all")
    assert overall["n"] > 10
    assert overall["model_version"] >= 1
    # IPS is unbiased but unbounded (1 / propensity on rare explorations); SNIPS is not
    ips, snips = overall["ips"], overall["snips"]
    assert ips["error"] is None
    assert ips["value"] >= 0.0
    assert ips["ci_low"] <= ips["value"] <= ips["ci_high"]
    assert snips["error"] is None
    assert 0.0 <= snips["value"] <= 1.0
    assert all(a["variant"] == "bandit" for a in adaptive)  # rules is not adaptive


async def test_activity_metrics_count_units_acting_after_exposure(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    body = {**EXPERIMENT, "secondary_metrics": ["activity:store_visit"]}
    await start_experiment(client, role_keys, "exp-v", body)
    visited: Counter[str] = Counter()
    exposed: Counter[str] = Counter()

    async def visit(customer: str, **extra: Any) -> None:
        r = await client.post(
            f"/v1/customers/{customer}/activities",
            json={"type": "store_visit", "channel": "in_store", **extra},
            headers=role_keys["decide"],
        )
        assert r.status_code == 200

    from datetime import UTC, datetime, timedelta

    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for i in range(60):
        customer = f"v-{i}"
        if i % 3 == 1:
            await visit(customer, timestamp=an_hour_ago)  # before exposure: does not count
        variant = (await send(client, role_keys, customer, ""))["experiment"]["variant"]
        exposed[variant] += 1
        if i % 3 == 1:
            await visit(customer, timestamp=an_hour_ago)  # reported late, happened before
        if i % 3 == 0:
            await visit(customer)
            await visit(customer)  # a unit counts once
            visited[variant] += 1
    results = (
        await client.get(
            "/v1/experiments/exp-v/results?metric=activity:store_visit",
            headers=role_keys["analyst"],
        )
    ).json()
    for row in results["overall"]["variants"]:
        assert row["units"] == exposed[row["variant"]]
        assert abs(row["value"] - visited[row["variant"]] / exposed[row["variant"]]) < 1e-7


async def test_adjustment_spans_segments_and_metrics(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    from experiments.stats import MultipleTestingConfig, adjust_p_values

    body = {**EXPERIMENT, "secondary_metrics": ["click_rate"]}
    await start_experiment(client, role_keys, "exp-m", body)
    for i in range(120):
        if i % 4 == 0:
            await client.put(
                f"/v1/customers/m-{i}",
                json={"attributes": {"tier": "gold"}},
                headers=role_keys["decide"],
            )
        kind = "conversion" if i % 5 == 0 else ("click" if i % 3 == 0 else "")
        await send(
            client, role_keys, f"m-{i}", kind, **({"value": 3.0} if kind == "conversion" else {})
        )

    async def get(metric: str, correction: str) -> dict[str, Any]:
        r = await client.get(
            f"/v1/experiments/exp-m/results?metric={metric}&correction={correction}",
            headers=role_keys["analyst"],
        )
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    def raw(result: dict[str, Any]) -> list[float]:
        blocks = [result["overall"], *result["segments"]]
        return [c["p_value"] for b in blocks for c in b["comparisons"] if c["p_value"] is not None]

    primary, secondary = await get("conversion_rate", "holm"), await get("click_rate", "holm")
    family = raw(primary) + raw(secondary)
    assert primary["multiple_testing"] == {"method": "holm", "family_size": len(family)}
    expected = adjust_p_values(family, MultipleTestingConfig(method="holm")).adjusted
    got = [
        c["p_value_adjusted"]
        for b in [primary["overall"], *primary["segments"]]
        for c in b["comparisons"]
    ]
    assert got == [round(p, 8) for p in expected[: len(got)]]
    bh = await get("conversion_rate", "bh")
    bh_got = [
        c["p_value_adjusted"] for b in [bh["overall"], *bh["segments"]] for c in b["comparisons"]
    ]
    assert all(b <= h + 1e-12 for b, h in zip(bh_got, got, strict=True))
