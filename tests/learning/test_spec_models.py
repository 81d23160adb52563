"""A feature-spec change starts new models: no model of the old spec sees a new vector."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from engine.catalog.cache import CatalogCache
from engine.learning.learner import Learner
from engine.learning.policies import ModelSnapshot, PolicyConfig, Trainer
from engine.store import keys
from engine.store.redis import RedisStore
from tests.helpers import Service

POLICY = PolicyConfig()
STREAM = keys.model_key("global", "rewards")


async def put_spec(service: Service, **spec: Any) -> int:
    r = await service.client.put("/v1/feature-spec", json=spec, headers=service.roles["admin"])
    assert r.status_code == 200, r.text
    size: int = r.json()["size"]
    return size


async def put_the_same_spec_again(service: Service) -> int:
    """The current spec sent back unchanged: a new version, though no vector changes."""
    current = (await service.client.get("/v1/feature-spec", headers=service.roles["admin"])).json()
    return await put_spec(service, **{k: v for k, v in current["spec"].items() if k != "version"})


async def send_reward(service: Service, decision_id: str, x: list[float]) -> None:
    catalog = await CatalogCache(service.store).get()
    await service.raw.xadd(
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


async def learn_a_first_model(service: Service) -> int:
    """An offer, one reward learned by a model of the current spec; the spec's width."""
    await service.put_offer()
    size = (await CatalogCache(service.store).get()).vectorizer.size
    await send_reward(service, "d-1~c-1", [1.0] * size)
    assert await Learner(service.store, service.settings, POLICY).step("global", block_ms=1) == 1
    return size


async def snapshot(store: RedisStore) -> ModelSnapshot:
    found = await store.read_snapshot("global")
    assert found is not None
    return ModelSnapshot.from_bytes(found[1])


def learned_alone(x: list[float]) -> dict[str, np.ndarray[Any, Any]]:
    trainer = Trainer(POLICY, [], len(x))
    trainer.partial_fit(["o-a"], np.array([1.0]), np.array([x]))
    return trainer.snapshot(1).arrays


async def test_a_learner_commits_after_the_spec_changes_width(service: Service) -> None:
    await service.put_offer()
    old = (await CatalogCache(service.store).get()).vectorizer.size
    await send_reward(service, "d-1~c-1", [1.0] * old)
    learner = Learner(service.store, service.settings, POLICY)
    assert await learner.step("global", block_ms=1) == 1  # its trainer is cached at width old
    new = await put_spec(service, hash_buckets=4)
    assert new != old
    await send_reward(service, "d-2~c-1", [0.5] * new)
    assert await learner.step("global", block_ms=1) == 1
    learned = await snapshot(service.store)
    assert learned.n_features == new
    assert learned.version == 2
    assert learner.applied == 2


async def test_a_model_of_the_old_spec_is_not_continued_even_at_the_same_width(
    service: Service,
) -> None:
    size = await learn_a_first_model(service)
    assert await put_the_same_spec_again(service) == size  # a new version, same width
    x = [0.25] * size
    await send_reward(service, "d-2~c-1", x)
    assert await Learner(service.store, service.settings, POLICY).step("global", block_ms=1) == 1
    learned = await snapshot(service.store)
    for name, array in learned_alone(x).items():  # the new model knows only the new reward
        np.testing.assert_allclose(learned.arrays[name], array, err_msg=name)


async def test_decisions_are_not_scored_by_a_model_of_the_old_spec(service: Service) -> None:
    await learn_a_first_model(service)
    request = {"customer_id": "c-1", "channel": "web"}
    decide = service.roles["decide"]
    decided = await service.client.post("/v1/decisions", json=request, headers=decide)
    assert decided.json()["policy"]["version"] == 1
    await put_the_same_spec_again(service)
    after = await service.client.post("/v1/decisions", json=request, headers=decide)
    assert after.json()["policy"]["version"] == 0  # the prior, until a model of this spec
