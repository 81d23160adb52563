"""20,000 decisions through the whole decision process: frequencies match logged propensities."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import orjson
import redis.asyncio as redis
from scipy import stats

from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.decision.engine import DecisionEngine
from engine.decision.request import DecisionRequest
from engine.domain.catalog import Offer
from engine.learning.policies import PolicyConfig, Trainer
from engine.learning.registry import ModelRegistry
from engine.store import keys
from engine.store.records import LogRecord
from engine.store.redis import RedisStore

N = 20_000
OFFERS = ["o-1", "o-2", "o-3", "o-4", "o-5"]


async def test_empirical_frequencies_match_logged_propensities(
    settings: Settings, store: RedisStore, raw: redis.Redis, raw_binary: redis.Redis
) -> None:
    for i, offer_id in enumerate(OFFERS):
        offer = Offer(name=offer_id, channels={"web": {"title": offer_id}}, value=1.0 + i)
        await store.put_offer(offer_id, offer.model_dump_json().encode())
    catalog = CatalogCache(store)
    size = (await catalog.get()).vectorizer.size
    # a fixed model: LinUCB fitted once on random data, published as version 1
    policy = PolicyConfig(name="linucb", alpha=0.5, epsilon=0.15)
    trainer = Trainer(policy, OFFERS, size)
    rng = np.random.default_rng(0)
    arms = rng.choice(OFFERS, size=400)
    trainer.partial_fit(list(arms), rng.random(400), rng.random((400, size)))
    await raw_binary.set(keys.model_key("global", "snapshot"), trainer.snapshot(1).to_bytes())
    await raw_binary.set(keys.model_key("global", "version"), 1)
    engine = DecisionEngine(
        store,
        catalog,
        ModelRegistry(store, policy),
        settings.model_copy(update={"decision_log_maxlen": 100_000}),
        rng=np.random.default_rng(1),
    )
    request = DecisionRequest(
        customer_id="c-fixed", channel="web", context={"page": "home"}, limit=2
    )
    counts: Counter[tuple[str, int]] = Counter()
    logged: dict[tuple[str, int], set[float]] = defaultdict(set)
    for _ in range(N):
        body = (await engine.decide(request)).body
        assert body["policy"]["version"] == 1
        for item in body["offers"]:
            cell = (item["offer_id"], item["rank"])
            counts[cell] += 1
            logged[cell].add(round(item["propensity"], 9))
    # the model and context are fixed, so each (offer, rank) has one logged propensity
    assert all(len(values) == 1 for values in logged.values())
    propensity = {cell: next(iter(values)) for cell, values in logged.items()}
    for rank in (1, 2):
        cells = [(o, rank) for o in OFFERS]
        assert all(cell in propensity for cell in cells)  # exploration reaches every offer
        expected = np.array([propensity[c] for c in cells])
        assert abs(expected.sum() - 1.0) < 1e-6
        observed = np.array([counts[c] for c in cells])
        assert stats.chisquare(observed, expected * N).pvalue > 1e-4
        for cell, seen, p in zip(cells, observed, expected, strict=True):
            assert abs(seen - p * N) <= 4.5 * np.sqrt(N * p * (1 - p)) + 1, cell
    # the decision log carries the same propensities
    last = (await raw.xrevrange(keys.DECISION_LOG, count=1))[0][1]
    for item in orjson.loads(last["served"]):
        assert round(item["propensity"], 6) == round(
            propensity[(item["offer_id"], item["rank"])], 6
        )


async def test_buffered_log_entries_are_flushed_once_under_concurrency(
    settings: Settings, store: RedisStore, raw: redis.Redis
) -> None:
    """Entries kept during an outage are written exactly once when the store is back."""
    import asyncio

    offer = Offer(name="o", channels={"web": {"title": "o"}})
    await store.put_offer("o-1", offer.model_dump_json().encode())
    engine = DecisionEngine(
        store, CatalogCache(store), ModelRegistry(store, PolicyConfig()), settings
    )
    for i in range(5):
        engine.pending_log.enqueue(
            LogRecord({"decision_id": f"d-old{i}~c-x", "fallback": "1"}, "global", f"d-old{i}", 0.0)
        )
    request = DecisionRequest(customer_id="c-1", channel="web")
    await asyncio.gather(*(engine.decide(request) for _ in range(8)))
    entries = await raw.xrange(keys.DECISION_LOG)
    ids = [fields["decision_id"] for _, fields in entries]
    assert sorted(i for i in ids if i.startswith("d-old")) == [f"d-old{i}~c-x" for i in range(5)]
    assert len(ids) == 13
    assert not engine.pending_log.entries
