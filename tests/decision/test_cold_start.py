"""A new offer joins a trained model without retraining; an archived one leaves it."""

from __future__ import annotations

from typing import Any

import httpx

from engine.config import Settings
from engine.learning.learner import Learner
from engine.learning.policies import ModelSnapshot, PolicyConfig
from engine.store.redis import RedisStore

Roles = dict[str, dict[str, str]]


async def put_offer(client: httpx.AsyncClient, roles: Roles, offer_id: str, **extra: Any) -> None:
    body = {"name": offer_id, "channels": {"web": {"title": offer_id}}, **extra}
    r = await client.put(f"/v1/offers/{offer_id}", json=body, headers=roles["marketer"])
    assert r.status_code == 200, r.text


async def decide_and_click(
    client: httpx.AsyncClient, roles: Roles, customer: str, limit: int = 1, click: bool = True
) -> dict[str, Any]:
    r = await client.post(
        "/v1/decisions",
        json={"customer_id": customer, "channel": "web", "limit": limit},
        headers=roles["decide"],
    )
    body: dict[str, Any] = r.json()
    for item in body["offers"] if click else ():
        token = body["decision_id"][2:].split("~")[0]
        await client.post(
            "/v1/events",
            json={
                "event_id": f"e-{token}-{item['offer_id']}",
                "decision_id": body["decision_id"],
                "offer_id": item["offer_id"],
                "type": "click",
            },
            headers=roles["decide"],
        )
    return body


async def snapshot(store: RedisStore) -> ModelSnapshot:
    found = await store.read_snapshot("global")
    assert found is not None
    return ModelSnapshot.from_bytes(found[1])


async def test_new_offer_is_explored_then_learned_and_archived_offers_leave(
    client: httpx.AsyncClient, role_keys: Roles, settings: Settings, store: RedisStore
) -> None:
    await put_offer(client, role_keys, "o-a")
    await put_offer(client, role_keys, "o-b")
    learner = Learner(store, settings, PolicyConfig())
    for i in range(30):  # a click rate of 1 in 5, as offers earn
        await decide_and_click(client, role_keys, f"c-{i}", limit=2, click=i % 5 == 0)
    await learner.step("global", block_ms=1)
    trained = await snapshot(store)
    assert set(trained.arms) == {"o-a", "o-b"}
    # a new offer: the served model has never seen it; LinUCB's prior bonus puts it first
    await put_offer(client, role_keys, "o-new")
    body = await decide_and_click(client, role_keys, "c-new", limit=3)
    assert body["policy"]["version"] == trained.version
    ranked = [o["offer_id"] for o in body["offers"]]
    assert "o-new" in ranked
    if not body["offers"][0]["explanation"]["explored"]:
        assert ranked[0] == "o-new"
    await learner.step("global", block_ms=1)
    assert "o-new" in (await snapshot(store)).arms  # joined without retraining the others
    # archiving an offer removes it from the model at the next commit
    await put_offer(client, role_keys, "o-b", status="archived")
    await decide_and_click(client, role_keys, "c-last", limit=3)
    await learner.step("global", block_ms=1)
    assert set((await snapshot(store)).arms) == {"o-a", "o-new"}
