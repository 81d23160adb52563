"""What the tests of several packages share: the service under test in one argument, the bodies
they all send, and a dump of the store to show what a request did or did not write."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as redis

from engine.config import Settings
from engine.store.redis import RedisStore

Headers = dict[str, str]
Roles = dict[str, Headers]


@dataclass(frozen=True)
class Service:
    """The API over the test store, a key for every role, and the store seen from underneath:
    a test that acts through the API and checks what it stored takes this one fixture, not
    five."""

    client: httpx.AsyncClient
    roles: Roles
    settings: Settings
    store: RedisStore
    raw: redis.Redis

    async def put_offer(self, offer_id: str = "o-a", **fields: Any) -> None:
        """A web offer worth 1.0 that every customer may see: the least a decision needs."""
        body = {"name": offer_id, "channels": {"web": {"title": "t"}}, "value": 1.0, **fields}
        r = await self.client.put(
            f"/v1/offers/{offer_id}", json=body, headers=self.roles["marketer"]
        )
        assert r.status_code == 200, r.text

    async def customer_view(self, customer_id: str = "c-1") -> dict[str, Any]:
        """What an analyst sees of the customer: profile, features and contact history."""
        r = await self.client.get(f"/v1/customers/{customer_id}", headers=self.roles["analyst"])
        assert r.status_code == 200, r.text
        view: dict[str, Any] = r.json()
        return view


def event_on(
    decision: Mapping[str, Any], event_id: str, kind: str = "click", **fields: Any
) -> dict[str, Any]:
    """An event on the decision's first offer, as a client reports what it showed; ``fields``
    add to it or replace what it names."""
    return {
        "event_id": event_id,
        "decision_id": decision["decision_id"],
        "offer_id": decision["offers"][0]["offer_id"],
        "type": kind,
        **fields,
    }


def assert_not_found(response: httpx.Response, field: str, missing: str) -> None:
    """The 404 of the contract: its code, the field that named what is missing, and the id."""
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["field"] == field
    assert missing in error["message"]


def rules_vs_bandit(**fields: Any) -> dict[str, Any]:
    """An experiment splitting traffic evenly between the rules and the LinUCB bandit."""
    return {
        "variants": [
            {"id": "control", "weight": 0.5, "treatment": {"policy": "rules"}},
            {"id": "bandit", "weight": 0.5, "treatment": {"policy": "bandit", "name": "linucb"}},
        ],
        "control": "control",
        **fields,
    }


async def stored(raw: redis.Redis) -> dict[str, Any]:
    """Every key with its whole content, so that comparing two dumps shows any write at all:
    a refused request must leave the store exactly as it was."""
    out: dict[str, Any] = {}
    async for key in raw.scan_iter(count=1000):
        kind = await raw.type(key)
        if kind == "string":
            out[key] = await raw.get(key)
        elif kind == "hash":
            out[key] = await raw.hgetall(key)
        elif kind == "set":
            out[key] = await raw.smembers(key)
        elif kind == "zset":
            out[key] = await raw.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            out[key] = await raw.lrange(key, 0, -1)  # type: ignore[misc]
        elif kind == "stream":
            out[key] = await raw.xrange(key)
        else:
            out[key] = (kind, await raw.dump(key))
    return out
