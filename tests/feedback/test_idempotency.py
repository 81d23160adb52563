"""Idempotency keys check the payload: a retry replays, the same key with another body is 409.

Every path on a real store, through the API: decisions (``request_id``), events single and
batch (``event_id``), activities single and batch (``activity_id``). A refused request must
leave every stored key exactly as it was.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from redis.asyncio.connection import Connection

from engine.config import Settings
from engine.customers.service import record_activities
from engine.decision.request import DecisionRequest
from engine.domain.channels import CHANNEL_CODES
from engine.domain.idempotency import fingerprint, stamped
from engine.domain.profiles import Activity
from engine.errors import IdempotencyConflict
from engine.feedback.events import EventRequest
from engine.store import keys
from engine.store.connection import connection_class as packed_connection_class
from engine.store.records import DecisionCommit, EventJoinArgs
from engine.store.redis import RedisStore
from tests.helpers import stored

Roles = dict[str, dict[str, str]]
# the purchase whose id the activity tests send again, with this body or another
PURCHASE = {"activity_id": "a-1", "type": "purchase", "channel": "web", "value": 40.0}


def assert_conflict(response: httpx.Response, field: str, key: str) -> None:
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["field"] == field
    assert f"'{key}'" in error["message"]


async def put_offers(client: httpx.AsyncClient, roles: Roles, *offer_ids: str) -> None:
    for offer_id in offer_ids:
        body = {
            "name": offer_id,
            "channels": {"web": {"title": "t"}, "email": {"subject": "s", "body": "b"}},
            "value": 1.0,
            "caps": {"per_day": 5},
        }
        r = await client.put(f"/v1/offers/{offer_id}", json=body, headers=roles["marketer"])
        assert r.status_code == 200, r.text


async def decide(client: httpx.AsyncClient, roles: Roles, **body: Any) -> httpx.Response:
    payload = {"customer_id": "c-1", "channel": "web", **body}
    return await client.post("/v1/decisions", json=payload, headers=roles["decide"])


# --- decisions --------------------------------------------------------------------------------


async def test_a_retry_spelled_differently_replays_the_decision(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    """The fingerprint is of the validated request: defaults written out, keys in another
    order or 2 for 2.0 are the same request."""
    await put_offers(client, role_keys, "o-a", "o-b")
    first = await decide(client, role_keys, request_id="r-1", context={"cart": 2.0})
    assert first.status_code == 200, first.text
    again = await client.post(
        "/v1/decisions",
        json={
            "request_id": "r-1",
            "context": {"cart": 2.0},
            "limit": 1,
            "placement": "default",
            "exclude_offers": [],
            "channel": "web",
            "customer_id": "c-1",
        },
        headers=role_keys["decide"],
    )
    assert again.status_code == 200, again.text
    assert again.json() == first.json()


@pytest.mark.parametrize(
    "change",
    [
        {"channel": "email"},
        {"limit": 2},
        {"context": {"cart": 3.0}},
        {"placement": "home"},
        {"exclude_offers": ["o-a"]},
    ],
)
async def test_a_request_id_reused_with_another_body_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis, change: dict[str, Any]
) -> None:
    await put_offers(client, role_keys, "o-a", "o-b")
    base = {"request_id": "r-1", "context": {"cart": 2.0}}
    first = await decide(client, role_keys, **base)
    assert first.status_code == 200, first.text
    before = await stored(raw)
    response = await decide(client, role_keys, **{**base, **change})
    assert_conflict(response, "request_id", "r-1")
    assert await stored(raw) == before
    replay = await decide(client, role_keys, **base)  # the original body still replays
    assert replay.json() == first.json()


async def test_the_conflict_costs_no_extra_round_trip(
    client: httpx.AsyncClient, role_keys: Roles, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept fingerprint comes back with the decision's one pipelined read, like the
    answer a replay sends."""
    await put_offers(client, role_keys, "o-a")
    assert (await decide(client, role_keys, request_id="r-1")).status_code == 200
    # the API's own store client: the conflicting request must not reach the commit
    connection_class = packed_connection_class(redis_url)
    assert issubclass(connection_class, Connection)
    original = connection_class.send_packed_command
    writes: list[int] = []

    async def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        writes.append(1)
        await original(self, command, check_health)

    monkeypatch.setattr(connection_class, "send_packed_command", counting)
    replay = await decide(client, role_keys, request_id="r-1")
    assert replay.status_code == 200
    replayed = len(writes)
    assert replayed >= 1
    writes.clear()
    response = await decide(client, role_keys, request_id="r-1", limit=2)
    assert_conflict(response, "request_id", "r-1")
    assert len(writes) == replayed  # as many round trips as a replay: no commit, no log


async def test_a_concurrent_request_with_another_body_is_refused_by_the_commit(
    raw: redis.Redis, store: RedisStore
) -> None:
    """Two requests under one request_id read no answer; the first commits. The second's
    commit finds the key taken by another body: refused in the script, nothing written."""
    no_limits = (-1, -1, -1, -1, 0)
    now = int(time.time())
    first = DecisionRequest(customer_id="c-9", channel="web", request_id="r-9")
    second = DecisionRequest(customer_id="c-9", channel="web", request_id="r-9", limit=2)

    async def commit(token: str, request: DecisionRequest) -> str:
        digest = fingerprint(request, exclude=("request_id",))
        status, _ = await store.commit_decision(DecisionCommit(
            "c-9", token, [("o-a", no_limits)], CHANNEL_CODES["web"], now,
            {"ts": str(now), "o:o-a": "1|1.0"}, stamped(digest, b'{"decision_id": "d-1"}'),
            "r-9", 3600, 60, fingerprint=digest,
        ))  # fmt: skip
        return status

    assert await commit("tok1", first) == "ok"
    before = await stored(raw)
    assert await commit("tok2", second) == "conflict"
    assert await stored(raw) == before
    assert await commit("tok3", first) == "replay"


async def test_an_answer_kept_before_fingerprints_still_replays(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis
) -> None:
    """Answers stored by the previous release (plain JSON) replay until they expire."""
    await put_offers(client, role_keys, "o-a")
    first = await decide(client, role_keys, request_id="r-old")
    key = keys.customer_request("c-1", "r-old")
    kept = await raw.get(key)
    assert kept is not None
    await raw.set(key, kept[kept.index("{") :])
    again = await decide(client, role_keys, request_id="r-old", limit=3)
    assert again.status_code == 200
    assert again.json() == first.json()


# --- events -----------------------------------------------------------------------------------


async def decision_with_two_offers(client: httpx.AsyncClient, roles: Roles) -> dict[str, Any]:
    await put_offers(client, roles, "o-a", "o-b")
    r = await decide(client, roles, limit=2)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert len(body["offers"]) == 2
    return body


def event_body(decision: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "event_id": "e-1",
        "decision_id": decision["decision_id"],
        "offer_id": decision["offers"][0]["offer_id"],
        "type": "conversion",
        "value": 25.0,
        **overrides,
    }


def other_bodies(decision: dict[str, Any]) -> list[dict[str, Any]]:
    stamp = datetime.now(UTC) - timedelta(minutes=1)
    return [
        event_body(decision, type="click", value=None),
        event_body(decision, offer_id=decision["offers"][1]["offer_id"]),
        event_body(decision, value=26.0),
        event_body(decision, timestamp=stamp.isoformat()),
    ]


async def test_an_event_id_reused_with_another_body_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis
) -> None:
    decision = await decision_with_two_offers(client, role_keys)
    first = await client.post("/v1/events", json=event_body(decision), headers=role_keys["decide"])
    assert first.json()["status"] == "accepted"
    retry = event_body(decision, value=25)  # 25 is 25.0: the same event
    again = await client.post("/v1/events", json=retry, headers=role_keys["decide"])
    assert again.json()["status"] == "duplicate"
    before = await stored(raw)
    for body in other_bodies(decision):
        response = await client.post("/v1/events", json=body, headers=role_keys["decide"])
        assert_conflict(response, "event_id", "e-1")
    assert await stored(raw) == before


def batch_plan(decision: dict[str, Any]) -> list[dict[str, Any]]:
    click = event_body(decision, event_id="e-2", type="click", value=None)
    return [
        *other_bodies(decision),  # e-1 under other bodies
        event_body(decision),  # e-1 as it was: duplicate
        click,
        {**click, "offer_id": decision["offers"][1]["offer_id"]},  # e-2 under another body
        click,  # e-2 again: duplicate
    ]


async def test_an_event_batch_answers_as_the_same_events_one_by_one(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis
) -> None:
    """A conflict with an earlier event, a conflict within the batch, and a plain retry
    within the batch: the same answers as single events, nothing recorded for the refused."""
    decision = await decision_with_two_offers(client, role_keys)
    first = await client.post("/v1/events", json=event_body(decision), headers=role_keys["decide"])
    assert first.json()["status"] == "accepted"
    r = await client.post(
        "/v1/events:batch", json={"events": batch_plan(decision)}, headers=role_keys["decide"]
    )
    assert r.status_code == 200, r.text
    batched = []
    for i, item in enumerate(r.json()):
        if item["status"] == "refused":
            field = item["error"]["field"]
            assert field.startswith(f"events[{i}].")
            batched.append(f"{item['error']['code']}:{field.removeprefix(f'events[{i}].')}")
        else:
            batched.append(item["status"])
    conflict = "idempotency_conflict:event_id"
    assert batched == [*[conflict] * 4, "duplicate", "accepted", conflict, "duplicate"]
    log = await raw.xrange(keys.EVENT_LOG)
    assert [(e["event_id"], e["type"], e["offer_id"]) for _, e in log] == [
        ("e-1", "conversion", decision["offers"][0]["offer_id"]),
        ("e-2", "click", decision["offers"][0]["offer_id"]),
    ]

    # the same events one by one, on a decision of their own
    response = await decide(client, role_keys, customer_id="c-2", limit=2)
    twin = response.json()
    one_by_one = []
    for body in [event_body(twin), *batch_plan(twin)]:
        response = await client.post("/v1/events", json=body, headers=role_keys["decide"])
        if response.status_code == 200:
            one_by_one.append(response.json()["status"])
        else:
            error = response.json()["error"]
            one_by_one.append(f"{error['code']}:{error['field']}")
    assert one_by_one == ["accepted", *batched]


async def test_an_event_joined_but_not_recorded_is_not_recorded_under_another_body(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis, store: RedisStore
) -> None:
    """The store failed between an event's join and its recording: a later delivery records
    it, but only the same event; another body under its id would be recorded as a type the
    join never counted."""
    decision = await decision_with_two_offers(client, role_keys)
    token, _, customer = decision["decision_id"][2:].partition("~")
    original = EventRequest(**event_body(decision))
    now = time.time()
    (joined,) = await store.join_events(
        [
            EventJoinArgs(
                customer, token, "e-1", original.offer_id, "c", 25.0, now - 60, now - 60,
                "k", 5, "attempt-1", fingerprint(original, exclude=("event_id",)),
            )
        ]
    )  # fmt: skip
    assert joined.status == "accepted"
    before = await stored(raw)
    for body in other_bodies(decision):
        response = await client.post("/v1/events", json=body, headers=role_keys["decide"])
        assert_conflict(response, "event_id", "e-1")
    assert await stored(raw) == before
    response = await client.post(
        "/v1/events", json=event_body(decision), headers=role_keys["decide"]
    )
    assert response.json()["status"] == "accepted"  # the same event: recorded now
    assert [e["type"] for _, e in await raw.xrange(keys.EVENT_LOG)] == ["conversion"]


# --- activities -------------------------------------------------------------------------------


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


async def post_activity(
    client: httpx.AsyncClient, roles: Roles, body: dict[str, Any], customer: str = "c-1"
) -> httpx.Response:
    return await client.post(
        f"/v1/customers/{customer}/activities", json=body, headers=roles["decide"]
    )


async def post_batch(
    client: httpx.AsyncClient, roles: Roles, activities: list[dict[str, Any]]
) -> httpx.Response:
    return await client.post(
        "/v1/customers/c-1/activities:batch",
        json={"activities": activities},
        headers=roles["decide"],
    )


async def features(client: httpx.AsyncClient, roles: Roles) -> dict[str, Any]:
    r = await client.get("/v1/customers/c-1", headers=roles["analyst"])
    body: dict[str, Any] = r.json()["features"]
    return body


async def test_an_activity_sent_again_with_its_id_is_counted_once(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    purchase = {**PURCHASE, "timestamp": ago(hours=2)}
    first = await post_activity(client, role_keys, purchase)
    assert first.json() == {"customer_id": "c-1", "accepted": 1, "duplicates": 0}
    # the same instant in another zone, 40 for 40.0: the same activity
    when = datetime.fromisoformat(purchase["timestamp"]).astimezone(timezone(timedelta(hours=2)))
    retry = {**purchase, "value": 40, "timestamp": when.isoformat()}
    again = await post_activity(client, role_keys, retry)
    assert again.json() == {"customer_id": "c-1", "accepted": 0, "duplicates": 1}
    counted = await features(client, role_keys)
    assert (counted["lifetime_purchases"], counted["lifetime_revenue"]) == (1, 40.0)
    # without an id an activity is counted every time it is sent, as before
    anonymous = {k: v for k, v in purchase.items() if k != "activity_id"}
    for _ in range(2):
        assert (await post_activity(client, role_keys, anonymous)).json()["accepted"] == 1
    assert (await features(client, role_keys))["lifetime_purchases"] == 3


async def test_an_activity_id_reused_with_another_body_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis
) -> None:
    assert (await post_activity(client, role_keys, PURCHASE)).status_code == 200
    before = await stored(raw)
    for body in (
        {**PURCHASE, "value": 41.0},
        {**PURCHASE, "channel": "in_store"},
        {"activity_id": "a-1", "type": "page_view", "channel": "web"},
        {**PURCHASE, "timestamp": ago(days=1)},
    ):
        assert_conflict(await post_activity(client, role_keys, body), "activity_id", "a-1")
    assert await stored(raw) == before


async def test_an_activity_batch_counts_each_id_once_within_it_and_across_retries(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    visit = {"activity_id": "a-v", "type": "page_view", "channel": "web", "timestamp": ago(hours=1)}
    buy = {"activity_id": "a-p", "type": "purchase", "channel": "web", "value": 10.0}
    batch = [visit, buy, visit, {"type": "login", "channel": "web"}]
    first = await post_batch(client, role_keys, batch)
    assert first.json() == {"customer_id": "c-1", "accepted": 3, "duplicates": 1}
    retry = await post_batch(client, role_keys, batch[:3])  # the ids again: nothing counted
    assert retry.json() == {"customer_id": "c-1", "accepted": 0, "duplicates": 3}
    counted = await features(client, role_keys)
    assert (counted["visits_7d"], counted["lifetime_purchases"]) == (2, 1)  # page view + login


@pytest.mark.parametrize(
    ("batch", "field"),
    [
        # an id counted before, under another body: the whole batch is refused
        (
            [
                {"activity_id": "a-new", "type": "login", "channel": "web"},
                {"activity_id": "a-1", "type": "purchase", "channel": "web", "value": 1.0},
            ],
            "activities[1].activity_id",
        ),
        # one id twice in the batch, under two bodies
        (
            [
                {"activity_id": "a-2", "type": "login", "channel": "web"},
                {"activity_id": "a-2", "type": "login", "channel": "email"},
            ],
            "activities[1].activity_id",
        ),
    ],
)
async def test_an_activity_batch_with_a_conflicting_id_changes_nothing(
    client: httpx.AsyncClient,
    role_keys: Roles,
    raw: redis.Redis,
    batch: list[dict[str, Any]],
    field: str,
) -> None:
    assert (await post_activity(client, role_keys, PURCHASE)).status_code == 200
    before = await stored(raw)
    response = await post_batch(client, role_keys, batch)
    assert_conflict(response, field, batch[1]["activity_id"])
    assert await stored(raw) == before


async def test_activity_ids_are_forgotten_after_their_retention(
    settings: Settings, raw: redis.Redis
) -> None:
    """Bounded memory: an id is remembered for NBO_ACTIVITY_ID_TTL_SECONDS, the key expires
    with its newest id, and ids past their time leave the hash at the daily clean-up."""
    store = RedisStore.from_settings(settings.model_copy(update={"activity_id_ttl_seconds": 600}))
    try:
        now = time.time()
        ids_key = keys.customer_activity_ids("c-1")

        def visit(activity_id: str, at: float) -> Activity:
            return Activity(
                activity_id=activity_id,
                type="page_view",
                channel="web",
                timestamp=datetime.fromtimestamp(at - 60, tz=UTC),
            )

        assert (await record_activities(store, "c-1", [visit("a-1", now)], now)).accepted == 1
        assert 0 < await raw.ttl(ids_key) <= 600
        again = await record_activities(store, "c-1", [visit("a-1", now)], now + 599)
        assert (again.accepted, again.duplicates) == (0, 1)
        with pytest.raises(IdempotencyConflict):
            await record_activities(store, "c-1", [visit("a-1", now + 1)], now + 599)
        later = await record_activities(store, "c-1", [visit("a-1", now + 1)], now + 601)
        assert later.accepted == 1  # forgotten: a new activity under an old id
        # two days on, the daily clean-up drops ids past their time
        await raw.hset(ids_key, "a-stale", f"{int(now) - 700}|{'0' * 32}")
        await record_activities(store, "c-1", [visit("a-2", now + 2 * 86_400)], now + 2 * 86_400)
        assert sorted(await raw.hkeys(ids_key)) == ["a-2"]
    finally:
        await store.close()


async def test_an_activity_id_must_be_a_plain_key(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    body = {"activity_id": "has space", "type": "login", "channel": "web"}
    response = await post_activity(client, role_keys, body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "activity_id"
    assert "pattern" in error["message"]  # refused as a malformed key, not as an unknown field
