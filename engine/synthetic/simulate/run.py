"""Running a simulation in this process, on simulated time; what every run records (its trace)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from engine.config import Settings
from engine.domain.catalog import field_types, validate_offer
from engine.domain.channels import CHANNELS
from engine.domain.profiles import (
    SECONDS_PER_DAY,
    day_number,
    encode_activity,
)
from engine.domain.rules import parse_rule
from engine.domain.vectoriser import validate_spec
from engine.errors import Conflict
from engine.store.ports import SyntheticPort
from engine.store.redis import RedisStore
from engine.synthetic.simulate.scenario import ATTRIBUTE_TYPES
from engine.synthetic.simulate.world import (
    BoolArray,
    IntArray,
    Population,
    Requests,
    oracle_rates,
    random_rates,
)

if TYPE_CHECKING:
    from engine.decision.engine import DecisionEngine
    from engine.feedback.events import EventType
    from engine.learning.policies import PolicyConfig

PLACEMENT = "sim"


class StoreNotEmpty(Conflict):
    """The target already holds data: the simulation would mix with it, or erase it."""


class SimulationOptions(BaseModel):
    """How the run is driven (not the world: that is :class:`ScenarioConfig`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decisions: int = Field(default=20_000, ge=1)
    seed: int = Field(default=7, ge=0)
    window: int = Field(default=1000, ge=1, description="Decisions per reported window.")
    summary_every: int = Field(default=5000, ge=1)
    learn_every: int = Field(
        default=200, ge=1, description="In process: decisions between learner catch-ups."
    )
    seconds_per_decision: float = Field(
        default=2.0, gt=0, description="In process: simulated time between decisions."
    )
    attribution_seconds: int = Field(
        default=60, ge=1, description="In process: attribution window of every channel."
    )
    concurrency: int = Field(default=16, ge=1, le=256, description="Over HTTP: requests in flight.")


@dataclass
class Trace:
    """What happened to each request, by request index."""

    served: IntArray
    clicked: BoolArray
    version: IntArray
    explored: BoolArray
    unexpected: int = 0  # served offers the simulator believed ineligible: a bug somewhere
    errors: int = 0
    fallbacks: int = 0  # decisions served without the store (it did not answer in time)
    policy: str = ""
    model_version: int = 0
    seconds: float = 0.0

    @classmethod
    def empty(cls, n: int) -> Trace:
        return cls(
            served=np.full(n, -1, dtype=np.int64),
            clicked=np.zeros(n, dtype=bool),
            version=np.zeros(n, dtype=np.int64),
            explored=np.zeros(n, dtype=bool),
        )


class SimClock:
    """Simulated time: windows close when the simulation says, however fast it runs."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def simulation_start(wall: float | None = None) -> float:
    """08:00 UTC of the current day: features do not depend on the hour a run starts."""
    wall = time.time() if wall is None else wall
    start = day_number(wall) * SECONDS_PER_DAY + 8 * 3600
    return float(start if start <= wall else start - SECONDS_PER_DAY)


class Serving:
    """One run's decisions as either mode serves them: what decision ``i`` asks for (the
    decision API's body) and, once answered, the events its customer sends back, noting in the
    trace what was served; the in-process and the HTTP run differ only in how they send them."""

    def __init__(self, population: Population, requests: Requests) -> None:
        self.population = population
        self.requests = requests
        self.trace = Trace.empty(len(requests))
        self.offer_index = {offer_id: j for j, offer_id in enumerate(population.offer_ids)}

    def decision(self, i: int) -> dict[str, Any]:
        """Request ``i`` as ``POST /v1/decisions`` takes it: one offer, for the simulator."""
        customer = self.population.customers[int(self.requests.customer[i])]
        return {
            "customer_id": customer.customer_id,
            "channel": self.requests.channel[i],
            "placement": PLACEMENT,
            "context": self.requests.context[i],
            "limit": 1,
        }

    def events(self, i: int, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The impression of what decision ``i`` served and, when the draw says so, its click."""
        offer_id = self.record(i, body)
        if offer_id is None:
            return []
        kinds: list[EventType] = (
            ["impression", "click"] if self.trace.clicked[i] else ["impression"]
        )
        return [
            {
                "event_id": f"e-{i}-{kind}",
                "decision_id": body["decision_id"],
                "offer_id": offer_id,
                "type": kind,
            }
            for kind in kinds
        ]

    def record(self, index: int, body: Mapping[str, Any]) -> str | None:
        """Note what was served; returns the served offer id, or None."""
        trace, requests = self.trace, self.requests
        trace.version[index] = int(body.get("policy", {}).get("version", 0))
        trace.policy = str(body.get("policy", {}).get("name", trace.policy))
        trace.fallbacks += bool(body.get("fallback"))
        offers = body.get("offers") or []
        if not offers:
            return None
        offer_id = str(offers[0]["offer_id"])
        j = self.offer_index.get(offer_id)
        if j is None or math.isnan(requests.rates[index, j]):
            trace.unexpected += 1
            return offer_id
        trace.served[index] = j
        trace.explored[index] = bool(offers[0].get("explanation", {}).get("explored", False))
        trace.clicked[index] = bool(requests.u[index] < requests.rates[index, j])
        return offer_id


class Reporter:
    """Progress bar plus a one-line summary every ``summary_every`` decisions.

    The line compares with random and oracle on the decisions made so far, so a run that is
    not learning shows it long before the end.
    """

    def __init__(
        self, console: Console, requests: Requests, trace: Trace, options: SimulationOptions
    ) -> None:
        self.console = console
        self.requests = requests
        self.trace = trace
        self.options = options
        self.done = 0
        self.progress = Progress(
            TextColumn("[bold]simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task("decisions", total=options.decisions)

    def advance(self) -> None:
        self.done += 1
        self.progress.update(self.task, completed=self.done)
        if self.done % self.options.summary_every == 0 or self.done == self.options.decisions:
            self.console.print(self.line(self.done))

    def line(self, done: int) -> str:
        rates = self.requests.rates[:done]
        window = min(self.options.window, done)
        clicked = self.trace.clicked[:done]
        random_, oracle = random_rates(rates), oracle_rates(rates)
        return (
            f"{done:>7,} decisions  bandit {clicked.mean():.3f} "
            f"(last {window:,}: {clicked[-window:].mean():.3f})  "
            f"random {random_.mean():.3f}  oracle {oracle.mean():.3f}  "
            f"model v{int(self.trace.version[:done].max(initial=0))}"
        )


async def _refuse_unless_empty(store: SyntheticPort, flush: bool, console: Console) -> None:
    """Refuse a store holding data: the simulation would learn on top of it and pollute it.

    Erasing is never implied: only ``flush`` (the CLI's ``--flush``) empties the database.
    """
    customers = 0
    async for batch in store.scan_customer_ids():
        customers += len(batch)
        break
    offers = len((await store.read_catalog()).offers)
    models = sum(v > 0 for v in (await store.model_versions()).values())
    if not (customers or offers or models):
        return
    if not flush:
        held = []
        if customers:
            held.append("customers")
        if offers:
            held.append(f"{offers} offers")
        if models:
            held.append("trained models")
        raise StoreNotEmpty(
            f"the store already holds {', '.join(held)}; the simulation needs an empty one. "
            "Point NBO_DATA_DIR at an empty directory (or NBO_REDIS_URL at an empty database), "
            "or pass --flush to ERASE everything in it first."
        )
    console.print("[yellow]--flush: erasing every key in the store[/yellow]")
    await store.flush_all()


async def _load_world(store: SyntheticPort, population: Population) -> None:
    """Catalog and customers, validated as the API would and written in bulk."""
    scenario = population.scenario
    in_force = await store.register_attribute_types(ATTRIBUTE_TYPES)
    clash = {n: k for n, k in ATTRIBUTE_TYPES.items() if in_force.get(n) != k}
    if clash:
        raise StoreNotEmpty(f"attributes {sorted(clash)} already have other types in the store")
    fields = field_types(ATTRIBUTE_TYPES)
    for segment_id, segment in scenario.stored_segments().items():
        parse_rule(segment.rule, fields, path=f"segments.{segment_id}.rule")
        await store.put_segment(segment_id, segment.model_dump_json(exclude_none=True).encode())
    segment_ids = {s.segment_id for s in scenario.segments}
    for offer_id, offer in scenario.catalog_offers().items():
        validate_offer(offer, segment_ids, fields)
        await store.put_offer(offer_id, offer.model_dump_json().encode())
    spec = scenario.feature_spec(version=1)
    validate_spec(spec, ATTRIBUTE_TYPES, segment_ids)
    await store.put_feature_spec(spec.model_dump_json().encode())
    now = population.now
    today = day_number(now)
    for start in range(0, len(population.customers), 500):
        chunk = population.customers[start : start + 500]
        await store.upsert_attributes_many(
            [
                (
                    c.customer_id,
                    {k: orjson.dumps(v).decode() for k, v in c.attributes.items()},
                    int(c.signed_up_at),
                )
                for c in chunk
            ]
        )
        await store.record_activities_many(
            [(c.customer_id, [encode_activity(a, now) for a in c.activities]) for c in chunk],
            today,
        )


class _InProcess:
    """The engine's own services on one simulated clock: the decision engine, events, learner.

    A new :class:`ModelRegistry` per engine loads the latest snapshot synchronously: the
    production registry swaps snapshots in a background task, whose timing would make runs
    irreproducible.
    """

    def __init__(
        self,
        store: RedisStore,
        settings: Settings,
        config: PolicyConfig,
        now: float,
        options: SimulationOptions,
    ) -> None:
        from engine.catalog.cache import CatalogCache
        from engine.feedback.events import EventService
        from engine.learning.learner import Learner

        self.settings = settings
        self.config = config
        self.options = options
        self.clock = SimClock(now)
        self.store = store  # one adapter serves every port
        self.catalog = CatalogCache(store)
        self.rng = np.random.default_rng([options.seed, 2])
        self.events = EventService(store, settings, clock=self.clock)
        self.learner = Learner(store, settings, config, name="simulator", clock=self.clock)
        self.engine = self.new_engine()

    def new_engine(self) -> DecisionEngine:
        from engine.decision.engine import DecisionEngine
        from engine.learning.registry import ModelRegistry

        models = ModelRegistry(self.store, self.config)
        return DecisionEngine(
            self.store, self.catalog, models, self.settings, clock=self.clock, rng=self.rng
        )

    async def learn(self) -> None:
        """Close every attribution window and drain the reward stream."""
        self.clock.advance(self.options.attribution_seconds + 1)
        for scope in await self.learner.scopes():
            while await self.learner.sweep(scope):
                pass
            while await self.learner.step(scope, block_ms=0):
                pass

    async def serve(self, i: int, serving: Serving) -> None:
        """Decision ``i``, then its impression and, when the draw says so, its click."""
        from engine.decision.request import DecisionRequest
        from engine.feedback.events import EventRequest

        self.clock.advance(self.options.seconds_per_decision)
        decision = await self.engine.decide(DecisionRequest.model_validate(serving.decision(i)))
        for event in serving.events(i, decision.body):
            await self.events.record(EventRequest.model_validate(event))


def _batch_settings(
    settings: Settings, options: SimulationOptions, config: PolicyConfig
) -> Settings:
    return settings.model_copy(
        update={
            "attribution_windows": dict.fromkeys(CHANNELS, options.attribution_seconds),
            "policy": config.model_dump(),
            "learner": "off",
            # a batch run is not latency bound: a slow moment must not turn into fallbacks
            "redis_timeout_ms": max(settings.redis_timeout_ms, 5000),
        }
    )


async def run_in_process(
    population: Population,
    requests: Requests,
    options: SimulationOptions,
    settings: Settings,
    url: str,
    policy: Mapping[str, Any],
    console: Console,
    flush: bool = False,
) -> Trace:
    """Decide, respond and learn in this process, on simulated time.

    After every ``learn_every`` decisions the clock jumps past the attribution window, the
    learner's sweep closes the windows (unclicked offers are taught reward 0) and the learner
    drains the reward stream, so learning keeps up with deciding as a healthy deployment would.
    """
    from engine.learning.policies import PolicyConfig

    config = PolicyConfig.model_validate(dict(policy))
    settings = _batch_settings(settings, options, config)
    store = RedisStore.from_settings(settings, url)
    serving = Serving(population, requests)
    trace = serving.trace
    try:
        await _refuse_unless_empty(store, flush, console)
        console.print(f"loading {len(population.customers):,} customers and the catalog")
        await _load_world(store, population)
        run = _InProcess(store, settings, config, population.now, options)
        reporter = Reporter(console, requests, trace, options)
        started = time.perf_counter()
        with reporter.progress:
            for i in range(len(requests)):
                await run.serve(i, serving)
                if (i + 1) % options.learn_every == 0:
                    await run.learn()
                    run.engine = run.new_engine()
                reporter.advance()
        await run.learn()
        trace.seconds = time.perf_counter() - started
        trace.model_version = max((await store.model_versions()).values(), default=0)
        trace.policy = config.name
    finally:
        await store.close()
    return trace
