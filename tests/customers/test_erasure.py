"""Erasure: atomic while writes race it, and its cost is the customer's, not the store's."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from engine.config import Settings
from engine.domain.profiles import ActivityRow, day_number
from engine.learning.learner import Learner
from engine.learning.policies import PolicyConfig
from engine.store import keys
from engine.store.records import DecisionCommit
from engine.store.redis import RedisStore
from tests.helpers import Service, event_on

VICTIM = "victim-7"
BYSTANDER = "bystander-3"
SCANS = {"scan", "keys", "hscan", "sscan", "zscan", "xrange", "xrevrange", "xread"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Web decisions close after a second, so the sweep closes some while the race runs."""
    return settings.model_copy(update={"attribution_windows": {"web": 1}})


async def traces(raw: redis.Redis, binary: redis.Redis, customer_id: str) -> list[str]:
    """Every key, hash field or value, set or sorted-set member, list item and stream entry
    that names the customer, anywhere in the store."""
    found = []
    async for key in raw.scan_iter(match="*", count=1000):
        if customer_id in key:
            found.append(f"key {key}")
            continue
        kind = await raw.type(key)
        items: list[str] = []
        if kind == "hash":
            items = [f"{f}={v}" async for f, v in binary.hscan_iter(key)]  # type: ignore[misc]
        elif kind == "set":
            items = [str(m) async for m in binary.sscan_iter(key)]
        elif kind == "zset":
            items = [str(m) async for m, _ in binary.zscan_iter(key)]
        elif kind == "list":
            items = [str(v) for v in await binary.lrange(key, 0, -1)]  # type: ignore[misc]
        elif kind == "stream":
            items = [str(fields) for _, fields in await binary.xrange(key)]
        elif kind == "string":
            items = [str(await binary.get(key))]
        found += [f"{kind} {key}: {item[:80]}" for item in items if customer_id in item]
    return found


def decision_body(customer_id: str, n: int) -> dict[str, Any]:
    body: dict[str, Any] = {"customer_id": customer_id, "channel": "web"}
    if n % 3 == 0:
        body["request_id"] = f"r-{n}"  # a replay key too
    return body


async def test_erasure_while_writes_race_leaves_nothing_of_the_customer(
    service: Service, raw_binary: redis.Redis
) -> None:
    await service.put_offer()
    headers = service.roles["decide"]
    decisions: list[dict[str, Any]] = []
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()  # error codes of refused writes
    reasons: Counter[str] = Counter()
    erased_at: list[float] = []
    stop = asyncio.Event()
    counter = itertools.count()

    def count(r: httpx.Response) -> None:
        statuses[r.status_code] += 1
        if r.status_code >= 400:
            codes[r.json()["error"]["code"]] += 1

    async def decide(customer_id: str) -> None:
        while not stop.is_set():
            r = await service.client.post(
                "/v1/decisions", json=decision_body(customer_id, next(counter)), headers=headers
            )
            count(r)
            body = r.json()
            reasons[str(body.get("reason"))] += 1
            if body.get("offers"):
                decisions.append(body)

    async def events() -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            if not decisions:
                await asyncio.sleep(0.001)
                continue
            d = decisions[n % len(decisions)]
            kind = ("impression", "click", "conversion")[n % 3]
            r = await service.client.post(
                "/v1/events", json=event_on(d, f"e-{n}", kind), headers=headers
            )
            count(r)

    async def profile(customer_id: str) -> None:
        while not stop.is_set():
            r = await service.client.post(
                f"/v1/customers/{customer_id}/activities",
                json={"type": "purchase", "channel": "web", "value": 2},
                headers=headers,
            )
            count(r)
            r = await service.client.put(
                f"/v1/customers/{customer_id}",
                json={"attributes": {"tier": "gold"}},
                headers=headers,
            )
            count(r)

    async def learn() -> None:
        learner = Learner(service.store, service.settings, PolicyConfig(), name="race")
        while not stop.is_set():
            await learner.step("global", block_ms=1)
            await learner.sweep_all("global")

    async def erase() -> None:
        await asyncio.sleep(1.5)  # decisions, events, closed windows and learning happened
        r = await service.client.delete(f"/v1/customers/{VICTIM}", headers=service.roles["admin"])
        assert r.status_code == 204
        erased_at.append(time.monotonic())
        await asyncio.sleep(1.0)  # writes already in flight, and new ones, keep coming
        stop.set()

    await asyncio.gather(
        decide(VICTIM),
        decide(VICTIM),
        decide(BYSTANDER),
        events(),
        events(),
        profile(VICTIM),
        profile(BYSTANDER),
        learn(),
        erase(),
    )
    # the last windows close and the learner takes what is left; nothing of the victim returns
    await asyncio.sleep(1.1)
    learner = Learner(service.store, service.settings, PolicyConfig(), name="after")
    await learner.sweep_all("global")
    await learner.step("global", block_ms=1)

    assert erased_at
    assert not [s for s in statuses if s >= 500], statuses
    assert codes["customer_erased"] > 0  # writes for the victim after the erasure were refused
    assert reasons["customer_erased"] > 0  # and its decisions answered without an offer
    assert await traces(service.raw, raw_binary, VICTIM) == [
        f"key {keys.customer_tombstone(VICTIM)}"
    ]
    assert await service.raw.get(keys.customer_tombstone(VICTIM)) is not None
    bystander = await traces(service.raw, raw_binary, BYSTANDER)
    assert len(bystander) > 10  # the other customer is intact


async def footprint(service: Service, customer_id: str) -> None:
    """What one customer leaves: profile, activity, decisions with events, replays, logs."""
    client, headers = service.client, service.roles["decide"]
    await client.put(
        f"/v1/customers/{customer_id}", json={"attributes": {"tier": "gold"}}, headers=headers
    )
    for n in range(3):
        r = await client.post("/v1/decisions", json=decision_body(customer_id, n), headers=headers)
        d = r.json()
        r = await client.post(
            "/v1/events", json=event_on(d, f"e-{customer_id}-{n}"), headers=headers
        )
        assert r.status_code == 200, r.text


async def load_others(store: RedisStore, start: int, count: int) -> None:
    now = int(time.time())
    row = ActivityRow(
        ts=now,
        day=day_number(now),
        visit=True,
        purchase=False,
        support=False,
        channel_code="w",
        cents=0,
    )
    for first in range(start, start + count, 500):
        ids = [f"other-{n}" for n in range(first, min(first + 500, start + count))]
        await store.upsert_attributes_many([(i, {"tier": '"gold"'}, now) for i in ids])
        await store.record_activities_many([(i, [row]) for i in ids], day_number(now))


async def erasure_commands(raw: redis.Redis, store: RedisStore, customer_id: str) -> Counter[str]:
    await raw.config_resetstat()
    assert await store.erase_customer(customer_id)
    stats = await raw.info("commandstats")
    calls = Counter({name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()})
    # what the test itself sends, and connection set-up (the pool may open one meanwhile)
    for name in list(calls):
        if name in ("config|resetstat", "info", "hello") or name.startswith("client|"):
            del calls[name]
    return calls


async def test_erasure_cost_follows_the_customer_not_the_store(
    service: Service, raw_binary: redis.Redis
) -> None:
    await service.put_offer()
    await load_others(service.store, 0, 200)
    await footprint(service, "victim-a")
    small = await erasure_commands(service.raw, service.store, "victim-a")

    # 25 times the customers, and their decisions logged
    await load_others(service.store, 200, 5000)
    for n in range(60):
        await footprint(service, f"other-{n}")
    await footprint(service, "victim-b")
    large = await erasure_commands(service.raw, service.store, "victim-b")

    assert not SCANS & set(large), large  # nothing scanned: the indexes say where to look
    assert large == small  # the same customer footprint costs the same, whatever the store
    assert sum(large.values()) <= 12
    assert await traces(service.raw, raw_binary, "victim-b") == [
        f"key {keys.customer_tombstone('victim-b')}"
    ]


async def test_writes_for_an_erased_customer_are_refused_while_its_tombstone_lasts(
    service: Service, raw_binary: redis.Redis
) -> None:
    await service.put_offer()
    headers = service.roles["decide"]
    await footprint(service, VICTIM)
    before = (
        await service.client.post("/v1/decisions", json=decision_body(VICTIM, 1), headers=headers)
    ).json()
    r = await service.client.delete(f"/v1/customers/{VICTIM}", headers=service.roles["admin"])
    assert r.status_code == 204

    put = await service.client.put(
        f"/v1/customers/{VICTIM}", json={"attributes": {"tier": "x"}}, headers=headers
    )
    assert put.status_code == 409
    assert put.json()["error"]["code"] == "customer_erased"
    assert put.json()["error"]["field"] == "customer_id"
    activity = await service.client.post(
        f"/v1/customers/{VICTIM}/activities",
        json={"type": "page_view", "channel": "web"},
        headers=headers,
    )
    assert activity.status_code == 409
    assert activity.json()["error"]["field"] == "customer_id"
    late = await service.client.post("/v1/events", json=event_on(before, "e-late"), headers=headers)
    assert late.status_code == 409
    assert late.json()["error"] == {
        "code": "customer_erased",
        "message": f"the customer of decision '{before['decision_id']}' was erased",
        "field": "decision_id",
    }
    decision = await service.client.post(
        "/v1/decisions", json=decision_body(VICTIM, 3), headers=headers
    )
    assert decision.status_code == 200
    assert decision.json()["offers"] == []
    assert decision.json()["reason"] == "customer_erased"
    assert await traces(service.raw, raw_binary, VICTIM) == [
        f"key {keys.customer_tombstone(VICTIM)}"
    ]
    again = await service.client.delete(f"/v1/customers/{VICTIM}", headers=service.roles["admin"])
    assert again.status_code == 204


async def test_an_erased_customer_may_come_back_once_the_tombstone_expired(
    settings: Settings, raw: redis.Redis
) -> None:
    brief = RedisStore.from_settings(settings.model_copy(update={"erasure_tombstone_seconds": 1}))
    try:
        await brief.upsert_attributes(VICTIM, {"tier": '"gold"'}, (), int(time.time()))
        assert await brief.erase_customer(VICTIM)
        assert await raw.ttl(keys.customer_tombstone(VICTIM)) == 1
        await asyncio.sleep(1.2)
        await brief.upsert_attributes(VICTIM, {"tier": '"new"'}, (), int(time.time()))
        assert (await brief.read_customer(VICTIM)).attributes == {"tier": '"new"'}
    finally:
        await brief.close()


async def test_the_indexes_hold_only_what_is_still_stored(service: Service) -> None:
    """Expired decision records leave the index of named keys, trimmed log entries leave the
    index of references: both stay the size of what is held, not of the customer's history."""
    fields = {"ts": "0", "sc": "global"}

    async def commit(token: str) -> None:
        status, _ = await service.store.commit_decision(
            DecisionCommit(VICTIM, token, [], "w", int(time.time()), fields, b"", None, 1, 1)
        )
        assert status == "ok"

    await commit("t1")
    await commit("t2")
    assert await service.raw.zrange(keys.customer_named_index(VICTIM), 0, -1) == ["d:t1", "d:t2"]
    await asyncio.sleep(1.1)  # both records expired
    await commit("t3")
    assert await service.raw.zrange(keys.customer_named_index(VICTIM), 0, -1) == ["d:t3"]

    await service.put_offer()
    for _ in range(2):
        r = await service.client.post(
            "/v1/decisions", json=decision_body(VICTIM, 1), headers=service.roles["decide"]
        )
        assert r.status_code == 200

    async def logged() -> int:
        refs = await service.raw.zrange(keys.customer_refs(VICTIM), 0, -1)
        return sum(keys.parse_ref(ref)[1] == keys.DECISION_LOG for ref in refs)

    assert await logged() == 2
    await service.raw.xtrim(keys.DECISION_LOG, maxlen=0, approximate=False)  # the log moved on
    r = await service.client.post(
        "/v1/decisions", json=decision_body(VICTIM, 1), headers=service.roles["decide"]
    )
    assert r.status_code == 200
    assert await logged() == 1
