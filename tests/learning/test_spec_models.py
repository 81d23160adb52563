"""A feature-spec change starts new models: no model of the old spec sees a new vector."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import orjson
import redis.asyncio as redis

from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.learning.learner import Learner
from engine.learning.policies import ModelSnapshot, PolicyConfig, Trainer
from engine.store import keys
from engine.store.redis import RedisStore

Roles = dict[str, dict[str, str]]
POLICY = PolicyConfig()
STREAM = keys.model_key("global", "rewards")


async def put_offer(client: httpx.AsyncClient, roles: Roles) -> None:
    body = {"name": "o-a", "channels": {"web": {"title": "t"}}, "value": 1.0}
    assert (await client.put("/v1/offers/o-a", json=body, headers=roles["marketer"])).is_success


async def put_spec(client: httpx.AsyncClient, roles: Roles, **spec: Any) -> int:
    r = await client.put("/v1/feature-spec", json=spec, headers=roles["admin"])
    assert r.status_code == 200, r.text
    size: int = r.json()["size"]
    return size


async def send_reward(
    store: RedisStore, raw: redis.Redis, decision_id: str, x: list[float]
) -> None:
    catalog = await CatalogCache(store).get()
    await raw.xadd(
        STREAM,
        {
            "kind": "reward",
            "decision_id": decision_id,
            "offer_id": "o-a",
            "reward": "1.0",
            "x": orjson.dumps(x).decode(),
            "spec_version": str(catalog.feature_spec.version),
            "decided_at": "100.0",
        },
    )


async def snapshot(store: RedisStore) -> ModelSnapshot:
    found = await store.read_snapshot("global")
    assert found is not None
    return ModelSnapshot.from_bytes(found[1])


def learned_alone(x: list[float]) -> dict[str, np.ndarray[Any, Any]]:
    trainer = Trainer(POLICY, [], len(x))
    trainer.partial_fit(["o-a"], np.array([1.0]), np.array([x]))
    return trainer.snapshot(1).arrays


async def test_a_learner_commits_after_the_spec_changes_width(
    client: httpx.AsyncClient,
    role_keys: Roles,
    settings: Settings,
    store: RedisStore,
    raw: redis.Redis,
) -> None:
    await put_offer(client, role_keys)
    old = (await CatalogCache(store).get()).vectorizer.size
    await send_reward(store, raw, "d-1~c-1", [1.0] * old)
    learner = Learner(store, settings, POLICY)
    assert await learner.step("global", block_ms=1) == 1  # its trainer is cached at width old
    new = await put_spec(client, role_keys, hash_buckets=4)
    assert new != old
    await send_reward(store, raw, "d-2~c-1", [0.5] * new)
    assert await learner.step("global", block_ms=1) == 1
    learned = await snapshot(store)
    assert learned.n_features == new
    assert learned.version == 2
    assert learner.applied == 2


async def test_a_model_of_the_old_spec_is_not_continued_even_at_the_same_width(
    client: httpx.AsyncClient,
    role_keys: Roles,
    settings: Settings,
    store: RedisStore,
    raw: redis.Redis,
) -> None:
    await put_offer(client, role_keys)
    size = (await CatalogCache(store).get()).vectorizer.size
    await send_reward(store, raw, "d-1~c-1", [1.0] * size)
    assert await Learner(store, settings, POLICY).step("global", block_ms=1) == 1
    current = (await client.get("/v1/feature-spec", headers=role_keys["admin"])).json()["spec"]
    current.pop("version")
    assert await put_spec(client, role_keys, **current) == size  # a new version, same width
    x = [0.25] * size
    await send_reward(store, raw, "d-2~c-1", x)
    assert await Learner(store, settings, POLICY).step("global", block_ms=1) == 1
    learned = await snapshot(store)
    for name, array in learned_alone(x).items():  # the new model knows only the new reward
        np.testing.assert_allclose(learned.arrays[name], array, err_msg=name)


async def test_decisions_are_not_scored_by_a_model_of_the_old_spec(
    client: httpx.AsyncClient,
    role_keys: Roles,
    settings: Settings,
    store: RedisStore,
    raw: redis.Redis,
) -> None:
    await put_offer(client, role_keys)
    size = (await CatalogCache(store).get()).vectorizer.size
    await send_reward(store, raw, "d-1~c-1", [1.0] * size)
    assert await Learner(store, settings, POLICY).step("global", block_ms=1) == 1
    request = {"customer_id": "c-1", "channel": "web"}
    decided = await client.post("/v1/decisions", json=request, headers=role_keys["decide"])
    assert decided.json()["policy"]["version"] == 1
    current = (await client.get("/v1/feature-spec", headers=role_keys["admin"])).json()["spec"]
    current.pop("version")
    await put_spec(client, role_keys, **current)
    after = await client.post("/v1/decisions", json=request, headers=role_keys["decide"])
    assert after.json()["policy"]["version"] == 0  # the prior, until a model of this spec
