"""The demo experiment: bandit vs rules vs holdout over the demo population, with traffic.

So that `make run` shows real numbers in the results endpoint and the report: decisions go
through the real engine, and each synthetic customer responds as its persona does in the one
synthetic world (:mod:`engine.synthetic.personas`, the truth the simulator's oracle knows too):
a click at the persona's rate for the offer's tags on that channel, then a conversion on the
persona's share of clicks. The persona is hidden from the engine; the bandit can learn its
traces in behaviour and segments, rules cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from rich.console import Console
from rich.progress import Progress

from engine.catalog.cache import CatalogCache
from engine.catalog.experiments import put_experiment
from engine.config import Settings
from engine.decision.engine import DecisionEngine
from engine.decision.request import DecisionRequest
from engine.domain.channels import Channel
from engine.errors import Conflict
from engine.feedback.events import EventRequest, EventService
from engine.learning.learner import Learner
from engine.learning.policies import PolicyConfig
from engine.learning.registry import ModelRegistry
from engine.store.redis import RedisStore
from engine.synthetic.personas import PERSONAS, WORLD, click_rate
from engine.synthetic.population import persona_indices

__all__ = ["DEMO_EXPERIMENT", "DEMO_EXPERIMENT_BODY", "LEARN_EVERY", "run_demo_experiment"]

DEMO_EXPERIMENT = "exp-demo"
LEARN_EVERY = 200  # decisions between learner catch-ups, as `nbo simulate` learns in process
CHANNELS: Sequence[str] = ("web", "mobile_app", "email")
DEMO_EXPERIMENT_BODY: dict[str, Any] = {
    "name": "Personalisation vs rules",
    "hypothesis": "A contextual bandit converts better than our business rules.",
    "status": "running",
    "channels": list(CHANNELS),
    "variants": [
        {"id": "rules", "weight": 0.4, "treatment": {"policy": "rules"}},
        {"id": "bandit", "weight": 0.4, "treatment": {"policy": "bandit"}},
        {"id": "holdout", "weight": 0.2, "treatment": {"policy": "holdout"}},
    ],
    "control": "rules",
    "primary_metric": "conversion_rate",
    "secondary_metrics": ["click_rate", "revenue_per_unit"],
    "guardrail_metrics": ["click_rate"],
    "minimum_detectable_effect": 0.1,
}


async def run_demo_experiment(
    store: RedisStore,
    settings: Settings,
    customers: int,
    decisions: int,
    seed: int,
    console: Console,
) -> int:
    """Create the experiment and drive ``decisions`` decisions with responses; returns events.

    Customers are the demo population's ``c-0`` .. (generated with ``seed``), so each one's
    persona is the one its history was drawn from.
    """
    await store.reset_experiment_cells(DEMO_EXPERIMENT)  # a reload starts afresh
    catalog_cache = CatalogCache(store)
    catalog = await catalog_cache.get()
    current = catalog.experiments.get(DEMO_EXPERIMENT)
    phase = {} if current is None else {"phase": current.phase}
    try:
        await put_experiment(store, catalog, DEMO_EXPERIMENT, {**DEMO_EXPERIMENT_BODY, **phase})
    except Conflict:
        if current is None:
            raise
        # a demo loaded by an earlier version ran another design: a running experiment's
        # design changes only with a new phase, which re-randomises (as for any experiment)
        body = {**DEMO_EXPERIMENT_BODY, "phase": current.phase + 1}
        await put_experiment(store, catalog, DEMO_EXPERIMENT, body)
    if decisions <= 0 or customers <= 0:
        return 0
    personas = persona_indices(0, customers, seed)
    truths = {
        offer_id: WORLD.truth_of(parsed.offer.tags, offer_id)
        for offer_id, parsed in catalog.offers.items()
    }
    low, high = WORLD.conversion_value
    rng = np.random.default_rng(seed)
    loop = store  # one adapter serves every port
    policy = PolicyConfig.model_validate(settings.policy)
    engine = DecisionEngine(
        loop, catalog_cache, ModelRegistry(loop, policy), settings, rng=np.random.default_rng(seed)
    )
    events = EventService(loop, settings)
    learner = Learner(store, settings, policy)
    sent = 0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("demo experiment traffic", total=decisions)
        for i in range(decisions):
            index = int(rng.integers(customers))
            persona = PERSONAS[personas[index]]
            customer = f"c-{index}"
            channel = cast(Channel, CHANNELS[int(rng.integers(len(CHANNELS)))])
            request = DecisionRequest(customer_id=customer, channel=channel)
            body = (await engine.decide(request)).body
            for item in body["offers"]:
                offer_id = item["offer_id"]
                base = {"decision_id": body["decision_id"], "offer_id": offer_id}
                await events.record(EventRequest(event_id=f"demo-{i}-i", type="impression", **base))
                sent += 1
                rate = click_rate(persona, truths[offer_id], channel)
                if rng.random() < rate:
                    await events.record(EventRequest(event_id=f"demo-{i}-k", type="click", **base))
                    sent += 1
                    if rng.random() < persona.converts:
                        value = round(float(rng.uniform(low, high)), 2)
                        await events.record(
                            EventRequest(
                                event_id=f"demo-{i}-c", type="conversion", value=value, **base
                            )
                        )
                        sent += 1
            if i % LEARN_EVERY == LEARN_EVERY - 1:
                await _learn(learner)
            progress.advance(task)
    await _learn(learner)  # the last decisions' rewards too: the stored model is the report's
    return sent


async def _learn(learner: Learner) -> None:
    """Drain the reward streams, as a learner keeping up with a live deployment would."""
    for scope in await learner.scopes():
        while await learner.step(scope, block_ms=0):
            pass
