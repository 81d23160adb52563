"""The simulator against a real Valkey: a small run learns, the world is reproducible."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import orjson
import pytest
from pydantic import ValidationError
from rich.console import Console

from engine.config import Settings
from engine.store.redis import RedisStore
from engine.synthetic.demo_offers import demo_offers
from engine.synthetic.demo_segments import demo_segments
from engine.synthetic.personas import PERSONAS
from engine.synthetic.population import generate_customer
from engine.synthetic.simulate import (
    OfferSpec,
    Population,
    Requests,
    ScenarioConfig,
    SimulationOptions,
    StoreNotEmpty,
    Trace,
    build_population,
    draw_requests,
    run_in_process,
    simulation_start,
    summarize,
    write_outputs,
)

NOW = 1_790_000_000.0  # fixed, so features do not depend on when the test runs


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


async def run(
    settings: Settings,
    population: Population,
    requests: Requests,
    options: SimulationOptions,
    console: Console | None = None,
    flush: bool = True,
) -> Trace:
    """A run in this process against the test's store (flushing what earlier tests left)."""
    return await run_in_process(
        population,
        requests,
        options,
        settings,
        settings.redis_url or "",
        settings.policy,
        console or quiet(),
        flush=flush,
    )


def test_population_and_true_rates_are_a_function_of_the_seed() -> None:
    scenario = ScenarioConfig(customers=120)
    a, b = build_population(scenario, 3, NOW), build_population(scenario, 3, NOW)
    assert [c.attributes for c in a.customers] == [c.attributes for c in b.customers]
    assert [c.activities for c in a.customers] == [c.activities for c in b.customers]
    np.testing.assert_array_equal(a.base, b.base)  # NaN (not eligible) compares equal here
    ra, rb = draw_requests(a, 300, 3), draw_requests(b, 300, 3)
    np.testing.assert_array_equal(ra.rates, rb.rates)
    np.testing.assert_array_equal(ra.u, rb.u)
    assert ra.context == rb.context
    assert ra.channel == rb.channel
    # customer i does not depend on how many customers there are
    bigger = build_population(scenario.model_copy(update={"customers": 200}), 3, NOW)
    assert bigger.customers[119].attributes == a.customers[119].attributes
    np.testing.assert_array_equal(bigger.base[:120], a.base)
    other = build_population(scenario, 4, NOW)
    assert [c.attributes for c in other.customers] != [c.attributes for c in a.customers]


def test_true_rates_are_realistic_and_a_context_pays() -> None:
    scenario = ScenarioConfig(customers=500)
    requests = draw_requests(build_population(scenario, 7, NOW), 4000, 7)
    rates = requests.rates
    eligible = ~np.isnan(rates)
    assert eligible.any(axis=1).all()  # every request has something to serve
    assert scenario.min_rate <= np.nanmin(rates)
    assert np.nanmax(rates) <= scenario.max_rate
    random_ = np.nanmean(rates, axis=1).mean()
    oracle = np.nanmax(rates, axis=1).mean()
    filled = np.where(eligible, rates, np.nanmean(rates, axis=1)[:, np.newaxis])
    best_static = filled.mean(axis=0).max()
    assert 0.05 < random_ < 0.15
    assert oracle > 1.7 * random_  # personalisation can pay a lot...
    assert oracle > 1.5 * best_static  # ...and no single offer gets close


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rules": [{"field": "visits_30d", "op": "gte", "value": 3}]}, "attributes only"),
        ({"context_effect": {"weather=rain": 1.2}}, "unknown context"),
        ({"attribute_effect": {"favourite_colour=red": 1.2}}, "attribute_effect unknown"),
        ({"rules": [{"field": "tier", "op": "gte", "value": 3}]}, "rules"),
    ],
)
def test_scenario_refuses_what_the_oracle_could_not_know(
    change: dict[str, object], message: str
) -> None:
    offers = ScenarioConfig().offers
    broken = OfferSpec.model_validate({**offers[0].model_dump(), **change})
    with pytest.raises(ValidationError, match=message):
        ScenarioConfig(offers=[broken, *offers[1:]])


def test_the_default_scenario_is_the_demo_world() -> None:
    """One world: the demo's personas, customers and hand-written catalog, the shared truth."""
    scenario = ScenarioConfig(customers=50)
    assert scenario.personas == list(PERSONAS)
    population = build_population(scenario, 7, NOW)
    for index in (0, 17, 49):
        demo = generate_customer(index, 7, NOW)
        simulated = population.customers[index]
        assert (simulated.customer_id, simulated.persona) == (demo.customer_id, demo.persona)
        assert simulated.attributes == demo.attributes
        assert simulated.activities[1:] == demo.activities  # after the account's creation
        assert PERSONAS[population.persona[index]].name == demo.persona
    handwritten = demo_offers(NOW)
    assert [o.offer_id for o in scenario.offers] == [
        offer_id for offer_id, offer in handwritten.items() if offer.status == "active"
    ]
    for offer in scenario.offers:
        assert offer.tags == handwritten[offer.offer_id].tags  # the truth reads the catalog's
    assert {s.segment_id for s in scenario.segments} == set(demo_segments())


async def test_refuses_a_store_that_holds_customers(settings: Settings, store: RedisStore) -> None:
    await store.upsert_attributes("someone", {"tier": '"gold"'}, (), int(NOW))
    population = build_population(ScenarioConfig(customers=5), 1, NOW)
    requests = draw_requests(population, 5, 1)
    with pytest.raises(StoreNotEmpty, match="--flush"):
        await run(settings, population, requests, SimulationOptions(decisions=5), flush=False)
    assert (await store.read_customer("someone")).attributes  # refused: nothing erased


async def test_a_small_run_learns_and_reports(
    settings: Settings, store: RedisStore, tmp_path: Path
) -> None:
    await store.upsert_attributes("stray", {"tier": '"gold"'}, (), int(NOW))
    options = SimulationOptions(
        decisions=1500, seed=7, window=500, summary_every=500, learn_every=100
    )
    population = build_population(ScenarioConfig(customers=400), 7, simulation_start(NOW))
    requests = draw_requests(population, options.decisions, 7)
    printed = io.StringIO()
    console = Console(file=printed, width=120)
    trace = await run(settings, population, requests, options, console)
    assert not (await store.read_customer("stray")).attributes  # --flush erased it
    assert "1,500 decisions" in printed.getvalue()  # the summary line
    result = summarize(population, requests, trace, options, "in_process")
    summary = result.summary
    assert summary["model_version"] > 0
    assert summary["unexpected_offers"] == 0
    assert summary["no_offer"] == 0
    assert summary["fallbacks"] == 0
    last = summary["last_window"]
    assert (last["start"], last["end"]) == (1000, 1500)
    assert last["bandit"] > last["random"]
    assert last["bandit_expected"] > last["random"]
    assert [w["end"] for w in summary["windows"]] == [500, 1000, 1500]
    assert summary["overall"]["oracle"] > summary["overall"]["random"]
    for block in ("overall", "last_window"):
        b = summary[block]
        assert math.isclose(b["bandit_to_oracle"], b["bandit"] / b["oracle"], rel_tol=1e-3)
        assert math.isclose(b["bandit_to_random"], b["bandit"] / b["random"], rel_tol=1e-3)
        assert summary["acceptance"][block] == (
            b["bandit_expected_to_oracle"] >= 0.85 and b["bandit_expected_to_random"] >= 1.5
        )
        assert isinstance(summary["acceptance"][f"{block}_realised"], bool)
    assert summary["settings"]["seed"] == 7
    assert summary["settings"]["customers"] == 400
    assert summary["decisions"] == 1500
    assert summary["seconds"] > 0

    summary_path, chart_path = write_outputs(result, tmp_path / "sim")
    assert orjson.loads(summary_path.read_bytes())["overall"] == summary["overall"]
    assert chart_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart_path.stat().st_size > 10_000


async def test_in_process_runs_are_reproducible(settings: Settings, store: RedisStore) -> None:
    options = SimulationOptions(decisions=300, seed=5, learn_every=50)
    population = build_population(ScenarioConfig(customers=100), 5, simulation_start(NOW))
    requests = draw_requests(population, options.decisions, 5)
    traces = [await run(settings, population, requests, options) for _ in range(2)]
    np.testing.assert_array_equal(traces[0].served, traces[1].served)
    np.testing.assert_array_equal(traces[0].version, traces[1].version)
    assert traces[0].version.max() > 0
