"""``nbo demo --offers N``: a bigger catalog for load tests, valid as marketers' offers are."""

from __future__ import annotations

import io
from collections import Counter

import httpx
from rich.console import Console

from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.domain.channels import CHANNELS
from engine.store.redis import RedisStore
from engine.synthetic.demo import DemoConfig, load_demo
from engine.synthetic.demo_offers import (
    GENERATED_PREFIX,
    HANDWRITTEN_ACTIVE_OFFERS,
    demo_catalog,
    generated_offers,
)

Roles = dict[str, dict[str, str]]
NOW = 1_790_000_000.0


def quiet() -> Console:
    return Console(file=io.StringIO(), width=100)


async def test_n_active_offers_on_every_channel(settings: Settings, store: RedisStore) -> None:
    config = DemoConfig(customers=200, offers=100, experiment_decisions=60)
    summary = await load_demo(settings, settings.redis_url or "", config, quiet(), now=NOW)
    catalog = await CatalogCache(store).get()
    offers = {i: p.offer for i, p in catalog.offers.items()}
    active = [
        i
        for i, p in catalog.offers.items()
        if p.offer.status == "active"
        and (p.start_ts is None or p.start_ts <= NOW)
        and (p.end_ts is None or p.end_ts > NOW)
    ]
    assert len(active) == 100
    assert summary.offers == len(offers) == 101  # and the paused example
    generated = [o for i, o in offers.items() if i.startswith(GENERATED_PREFIX)]
    assert len(generated) == 100 - HANDWRITTEN_ACTIVE_OFFERS
    per_channel = Counter(c for o in generated for c in o.channels)
    assert set(per_channel) == set(CHANNELS)
    assert min(per_channel.values()) >= len(generated) // len(CHANNELS)
    assert all(2 <= len(o.channels) <= 4 for o in generated)
    assert all(o.value > 0 and o.tags for o in generated)
    assert sum(not o.eligibility.model_dump(exclude_defaults=True) for o in generated) >= 15
    assert sum(bool(o.eligibility.segments_any) for o in generated) >= 8
    assert sum(bool(o.eligibility.segments_none) for o in generated) >= 5
    assert sum(bool(o.eligibility.rules) for o in generated) >= 10
    assert sum(bool(o.caps.model_dump(exclude_defaults=True)) for o in generated) >= 60
    assert any(o.caps.cooldown_after_dismiss_hours for o in generated)
    assert any(o.budget.conversions for o in generated)
    assert any(o.start_at and o.end_at for o in generated)
    assert len({o.value for o in generated}) >= 40
    assert len({o.name for o in generated}) >= 60
    # the model's feature vector stays what the load tests name: 32 features
    assert catalog.vectorizer.size == 32


async def test_generated_offers_pass_the_offer_api(
    settings: Settings, client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await load_demo(settings, settings.redis_url or "", DemoConfig(customers=0), quiet(), now=NOW)
    for offer_id, offer in generated_offers(40, 3, NOW).items():
        response = await client.put(
            f"/v1/offers/{offer_id}",
            json=offer.model_dump(mode="json", exclude_defaults=True),
            headers=role_keys["marketer"],
        )
        assert response.status_code == 200, (offer_id, response.text)


def test_generated_offers_are_a_function_of_count_seed_and_now() -> None:
    many = generated_offers(86, 7, NOW)
    assert generated_offers(86, 7, NOW) == many
    assert generated_offers(86, 8, NOW) != many
    few = generated_offers(10, 7, NOW)
    assert few == {i: many[i] for i in few}  # more offers only add to the list
    assert len(demo_catalog(HANDWRITTEN_ACTIVE_OFFERS, 7, NOW)) == HANDWRITTEN_ACTIVE_OFFERS + 1


async def test_a_reload_with_fewer_offers_drops_the_generated(
    settings: Settings, store: RedisStore
) -> None:
    url = settings.redis_url or ""
    await load_demo(settings, url, DemoConfig(customers=0, offers=40), quiet(), now=NOW)
    assert len((await CatalogCache(store).get()).offers) == 41
    await load_demo(settings, url, DemoConfig(customers=0), quiet(), now=NOW)
    offers = (await CatalogCache(store).get()).offers
    assert len(offers) == HANDWRITTEN_ACTIVE_OFFERS + 1
    assert not [i for i in offers if i.startswith(GENERATED_PREFIX)]
