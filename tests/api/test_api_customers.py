"""Customer profiles over HTTP: attributes, activities, the profile view, erasure, eligibility."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from engine.domain.contacts import Caps
from engine.domain.profiles import FEATURE_TYPES
from engine.store import keys
from engine.store.redis import RedisStore

Headers = dict[str, str]
Roles = dict[str, Headers]


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


async def put_attributes(
    client: httpx.AsyncClient, roles: Roles, customer_id: str, attributes: dict[str, Any]
) -> httpx.Response:
    return await client.put(
        f"/v1/customers/{customer_id}", json={"attributes": attributes}, headers=roles["decide"]
    )


async def get_customer(client: httpx.AsyncClient, roles: Roles, customer_id: str) -> Any:
    response = await client.get(f"/v1/customers/{customer_id}", headers=roles["analyst"])
    assert response.status_code == 200, response.text
    return response.json()


# --- attributes -------------------------------------------------------------------------------


async def test_put_merges_into_the_profile(client: httpx.AsyncClient, role_keys: Roles) -> None:
    first = await put_attributes(client, role_keys, "c-1", {"tier": "gold", "age": 30})
    assert first.status_code == 200
    assert first.json() == {"customer_id": "c-1", "updated": ["age", "tier"], "removed": []}
    profile = await get_customer(client, role_keys, "c-1")
    assert profile["known"] is True
    assert profile["attributes"] == {"tier": "gold", "age": 30}

    second = await put_attributes(client, role_keys, "c-1", {"opted_in": True, "score": 0.5})
    assert second.status_code == 200
    assert (await get_customer(client, role_keys, "c-1"))["attributes"] == {
        "tier": "gold",
        "age": 30,
        "opted_in": True,
        "score": 0.5,
    }


async def test_values_keep_their_json_types(client: httpx.AsyncClient, role_keys: Roles) -> None:
    sent = {"name": "Ada", "visits": 3, "ratio": 0.25, "vip": False, "zero": 0, "empty": ""}
    await put_attributes(client, role_keys, "c-1", sent)
    attributes = (await get_customer(client, role_keys, "c-1"))["attributes"]
    assert attributes == sent
    assert {k: type(v) for k, v in attributes.items()} == {k: type(v) for k, v in sent.items()}


async def test_null_removes_an_attribute(client: httpx.AsyncClient, role_keys: Roles) -> None:
    await put_attributes(client, role_keys, "c-1", {"tier": "gold", "age": 30})
    response = await put_attributes(client, role_keys, "c-1", {"tier": None})
    assert response.status_code == 200
    assert response.json() == {"customer_id": "c-1", "updated": [], "removed": ["tier"]}
    assert (await get_customer(client, role_keys, "c-1"))["attributes"] == {"age": 30}
    # Removing what is not there is harmless.
    again = await put_attributes(client, role_keys, "c-1", {"never_set": None})
    assert again.status_code == 200
    assert (await get_customer(client, role_keys, "c-1"))["attributes"] == {"age": 30}


@pytest.mark.parametrize(
    ("first", "then"),
    [(30, "thirty"), (30, True), ("gold", 1), (True, "yes"), (False, 0), (1.5, False)],
)
async def test_attribute_type_is_fixed_on_first_use(
    client: httpx.AsyncClient, role_keys: Roles, first: Any, then: Any
) -> None:
    assert (await put_attributes(client, role_keys, "c-1", {"attr": first})).status_code == 200
    changed = await put_attributes(client, role_keys, "c-1", {"attr": then, "other": "kept?"})
    assert changed.status_code == 422
    error = changed.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "attributes.attr"
    # Nothing of the refused request was written, not even the valid "other".
    assert (await get_customer(client, role_keys, "c-1"))["attributes"] == {"attr": first}
    # The type is fixed for every customer, and survives removing the value.
    other = await put_attributes(client, role_keys, "c-2", {"attr": then})
    assert other.status_code == 422
    await put_attributes(client, role_keys, "c-1", {"attr": None})
    assert (await put_attributes(client, role_keys, "c-1", {"attr": then})).status_code == 422
    assert (await put_attributes(client, role_keys, "c-2", {"attr": first})).status_code == 200


async def test_int_and_float_are_both_numbers(client: httpx.AsyncClient, role_keys: Roles) -> None:
    assert (await put_attributes(client, role_keys, "c-1", {"ltv": 10})).status_code == 200
    response = await put_attributes(client, role_keys, "c-2", {"ltv": 10.5})
    assert response.status_code == 200
    assert (await get_customer(client, role_keys, "c-2"))["attributes"] == {"ltv": 10.5}


# --- the profile view -------------------------------------------------------------------------


async def test_unknown_customer_is_an_empty_profile_not_an_error(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis
) -> None:
    response = await client.get("/v1/customers/ghost", headers=role_keys["analyst"])
    assert response.status_code == 200
    body = response.json()
    assert "error" not in body
    assert body["customer_id"] == "ghost"
    assert body["known"] is False
    assert body["attributes"] == {}
    assert body["segments"] == []
    assert body["contact_history"] == {}
    features = body["features"]
    assert set(features) == set(FEATURE_TYPES)
    for name, value in features.items():
        if FEATURE_TYPES[name] == "number":
            assert value in (0, None), name  # counts are zero, recencies unknown
        else:
            assert value is None, name
    # Reading does not create the customer.
    assert [k async for k in raw.scan_iter(match="{c:ghost}*")] == []


async def test_segments_are_evaluated_on_read(client: httpx.AsyncClient, role_keys: Roles) -> None:
    await put_attributes(client, role_keys, "c-1", {"tier": "gold"})
    segment = {"name": "Gold", "rule": {"all": [{"field": "tier", "op": "eq", "value": "gold"}]}}
    put = await client.put("/v1/segments/gold", json=segment, headers=role_keys["marketer"])
    assert put.status_code == 200
    buyers = {
        "name": "Buyers",
        "rule": {"any": [{"field": "purchases_30d", "op": "gte", "value": 1}]},
    }
    await client.put("/v1/segments/buyers", json=buyers, headers=role_keys["marketer"])

    assert (await get_customer(client, role_keys, "c-1"))["segments"] == ["gold"]
    await client.post(
        "/v1/customers/c-1/activities",
        json={"type": "purchase", "channel": "web", "value": 5},
        headers=role_keys["decide"],
    )
    assert sorted((await get_customer(client, role_keys, "c-1"))["segments"]) == ["buyers", "gold"]
    await put_attributes(client, role_keys, "c-1", {"tier": "silver"})
    assert (await get_customer(client, role_keys, "c-1"))["segments"] == ["buyers"]


async def test_contact_history_is_shown(
    client: httpx.AsyncClient, role_keys: Roles, store: RedisStore
) -> None:
    now = int(time.time())
    granted = await store.reserve_contacts("c-1", [("o-1", Caps().script_args())], "e", now)
    assert granted == [None]
    await store.record_outcome("c-1", "o-1", "x", now)
    body = await get_customer(client, role_keys, "c-1")
    assert body["known"] is True
    entry = body["contact_history"]["o-1"]
    assert entry["served"] == 1
    assert entry["served_today"] == 1
    assert entry["served_7d"] == 1
    assert entry["dismisses"] == 1
    assert entry["conversions"] == 0
    assert datetime.fromisoformat(entry["last_dismissed_at"]).timestamp() == now
    assert set(entry["last_shown_at"]) == {"email"}
    assert datetime.fromisoformat(entry["last_shown_at"]["email"]).timestamp() == now


# --- activities -------------------------------------------------------------------------------


async def test_one_activity_updates_features(client: httpx.AsyncClient, role_keys: Roles) -> None:
    response = await client.post(
        "/v1/customers/c-1/activities",
        json={"type": "page_view", "channel": "mobile_app"},
        headers=role_keys["decide"],
    )
    assert response.status_code == 200
    assert response.json() == {"customer_id": "c-1", "accepted": 1, "duplicates": 0}
    body = await get_customer(client, role_keys, "c-1")
    assert body["known"] is True
    features = body["features"]
    assert features["visits_7d"] == 1
    assert features["days_since_last_visit"] == 0
    assert features["last_active_channel"] == "mobile_app"
    assert features["engagement_mobile_app_30d"] == 1
    assert features["purchases_90d"] == 0


async def test_activity_batch_counts_by_timestamp(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    activities = [
        {"type": "purchase", "channel": "web", "value": 10.0, "timestamp": ago(days=10)},
        {"type": "purchase", "channel": "in_store", "value": 30.0, "timestamp": ago(days=40)},
        {"type": "support_contact", "channel": "call_center", "timestamp": ago(days=3)},
        {"type": "login", "channel": "web", "timestamp": ago(days=2)},
        {"type": "page_view", "channel": "web", "timestamp": ago(days=20)},
    ]
    response = await client.post(
        "/v1/customers/c-1/activities:batch",
        json={"activities": activities},
        headers=role_keys["decide"],
    )
    assert response.status_code == 200
    assert response.json() == {"customer_id": "c-1", "accepted": len(activities), "duplicates": 0}
    features = (await get_customer(client, role_keys, "c-1"))["features"]
    assert features["purchases_30d"] == 1
    assert features["purchases_90d"] == 2
    assert features["revenue_30d"] == pytest.approx(10.0)
    assert features["revenue_90d"] == pytest.approx(40.0)
    assert features["lifetime_revenue"] == pytest.approx(40.0)
    assert features["avg_order_value"] == pytest.approx(20.0)
    assert features["days_since_last_purchase"] == 10
    assert features["days_since_last_visit"] == 2
    assert features["visits_7d"] == 1
    assert features["visits_30d"] == 2
    assert features["support_contacts_30d"] == 1
    assert features["last_active_channel"] == "web"


async def test_batch_is_all_or_nothing(client: httpx.AsyncClient, role_keys: Roles) -> None:
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = await client.post(
        "/v1/customers/c-1/activities:batch",
        json={
            "activities": [
                {"type": "page_view", "channel": "web"},
                {"type": "page_view", "channel": "web", "timestamp": future},
            ]
        },
        headers=role_keys["decide"],
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "activities[1].timestamp"
    body = await get_customer(client, role_keys, "c-1")
    assert body["known"] is False
    assert body["features"]["visits_7d"] == 0


# --- erasure ----------------------------------------------------------------------------------


async def test_delete_erases_everything_about_one_customer(
    client: httpx.AsyncClient, role_keys: Roles, store: RedisStore, raw: redis.Redis
) -> None:
    for customer_id in ("c-1", "c-2"):
        await put_attributes(client, role_keys, customer_id, {"tier": "gold"})
        await client.post(
            f"/v1/customers/{customer_id}/activities",
            json={"type": "purchase", "channel": "web", "value": 3},
            headers=role_keys["decide"],
        )
        await store.reserve_contacts(
            customer_id, [("o-1", Caps().script_args())], "w", int(time.time())
        )

    response = await client.delete("/v1/customers/c-1", headers=role_keys["admin"])
    assert response.status_code == 204
    assert response.content == b""

    gone = await get_customer(client, role_keys, "c-1")
    assert gone["known"] is False
    assert gone["attributes"] == {}
    assert gone["contact_history"] == {}
    assert gone["features"]["lifetime_purchases"] == 0
    # only the tombstone is left, refusing writes that raced the erasure; then it expires
    assert [k async for k in raw.scan_iter(match="{c:c-1}*")] == [keys.customer_tombstone("c-1")]
    # The attribute schema is catalog-wide and stays; the other customer is untouched.
    assert await raw.hget(keys.SCHEMA, "tier") is not None
    kept = await get_customer(client, role_keys, "c-2")
    assert kept["attributes"] == {"tier": "gold"}
    assert kept["features"]["lifetime_purchases"] == 1
    assert kept["contact_history"]["o-1"]["served"] == 1
    # Erasing an unknown customer is not an error (erasure is idempotent).
    again = await client.delete("/v1/customers/c-1", headers=role_keys["admin"])
    assert again.status_code == 204


# --- eligibility ------------------------------------------------------------------------------

WEB = {"web": {"title": "Hello"}}


async def put_offer(client: httpx.AsyncClient, roles: Roles, offer_id: str, **fields: Any) -> None:
    body = {"name": offer_id, "channels": WEB, **fields}
    response = await client.put(f"/v1/offers/{offer_id}", json=body, headers=roles["marketer"])
    assert response.status_code == 200, response.text


async def eligibility(
    client: httpx.AsyncClient, roles: Roles, customer_id: str = "c-1", **params: str
) -> dict[str, Any]:
    response = await client.get(
        f"/v1/customers/{customer_id}/eligibility",
        params={"channel": "web", **params},
        headers=roles["analyst"],
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["eligible_count"] == sum(o["eligible"] for o in body["offers"])
    return body


def verdict(body: dict[str, Any], offer_id: str) -> dict[str, Any]:
    found = [o for o in body["offers"] if o["offer_id"] == offer_id]
    assert len(found) == 1, body
    offer: dict[str, Any] = found[0]
    assert offer["eligible"] is (not offer["reasons"])
    return offer


def codes(body: dict[str, Any], offer_id: str) -> list[str]:
    return [r["code"] for r in verdict(body, offer_id)["reasons"]]


async def test_eligibility_lists_every_offer_with_its_reasons(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    in_an_hour = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    await put_attributes(client, role_keys, "c-1", {"age": 16, "tier": "gold"})
    await client.put(
        "/v1/segments/gold",
        json={"name": "Gold", "rule": {"all": [{"field": "tier", "op": "eq", "value": "gold"}]}},
        headers=role_keys["marketer"],
    )
    await client.put(
        "/v1/segments/vip",
        json={"name": "VIP", "rule": {"all": [{"field": "tier", "op": "eq", "value": "vip"}]}},
        headers=role_keys["marketer"],
    )
    await put_offer(client, role_keys, "open")
    await put_offer(client, role_keys, "for-gold", eligibility={"segments_any": ["gold", "vip"]})
    await put_offer(client, role_keys, "paused", status="paused")
    await put_offer(client, role_keys, "archived", status="archived")
    await put_offer(client, role_keys, "later", start_at=in_an_hour)
    await put_offer(client, role_keys, "ended", start_at=ago(days=2), end_at=ago(days=1))
    await put_offer(client, role_keys, "email-only", channels={"email": {"subject": "Hi"}})
    await put_offer(client, role_keys, "vip-only", eligibility={"segments_any": ["vip"]})
    await put_offer(client, role_keys, "not-gold", eligibility={"segments_none": ["gold"]})
    await put_offer(
        client,
        role_keys,
        "adults",
        eligibility={"rules": [{"field": "age", "op": "gte", "value": 18}]},
    )
    await put_offer(client, role_keys, "home-only", placements=["home"])

    body = await eligibility(client, role_keys, placement="cart")
    assert body["customer_id"] == "c-1"
    assert body["channel"] == "web"
    assert body["placement"] == "cart"
    assert body["segments"] == ["gold"]
    assert codes(body, "open") == []
    assert codes(body, "for-gold") == []
    assert verdict(body, "for-gold")["matched_segments"] == ["gold"]
    assert codes(body, "paused") == ["paused"]
    assert codes(body, "archived") == ["archived"]
    assert codes(body, "later") == ["out_of_schedule"]
    assert codes(body, "ended") == ["out_of_schedule"]
    assert codes(body, "email-only") == ["no_creative_for_channel"]
    assert codes(body, "vip-only") == ["segment_rule"]
    assert codes(body, "not-gold") == ["segment_rule"]
    assert codes(body, "adults") == ["attribute_rule"]
    assert "age" in verdict(body, "adults")["reasons"][0]["message"]
    assert codes(body, "home-only") == ["placement"]
    assert {o["offer_id"]: o["name"] for o in body["offers"]}["adults"] == "adults"
    assert body["eligible_count"] == 2

    # The same offers on another channel, another placement, for another customer.
    email = await eligibility(client, role_keys, channel="email", placement="home")
    assert codes(email, "email-only") == []
    assert codes(email, "open") == ["no_creative_for_channel"]
    assert codes(email, "home-only") == ["no_creative_for_channel"]
    await put_attributes(client, role_keys, "c-2", {"age": 40, "tier": "vip"})
    other = await eligibility(client, role_keys, "c-2")
    assert codes(other, "adults") == []
    assert codes(other, "vip-only") == []
    assert codes(other, "not-gold") == []


async def test_reasons_accumulate(client: httpx.AsyncClient, role_keys: Roles) -> None:
    await put_offer(
        client,
        role_keys,
        "o-1",
        status="paused",
        channels={"sms": {"body": "Hi"}},
        end_at=ago(hours=1),
        start_at=ago(days=1),
    )
    assert sorted(codes(await eligibility(client, role_keys), "o-1")) == [
        "no_creative_for_channel",
        "out_of_schedule",
        "paused",
    ]


async def test_unknown_customer_can_be_evaluated(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await put_offer(client, role_keys, "o-1")
    await put_offer(
        client,
        role_keys,
        "o-2",
        eligibility={"rules": [{"field": "visits_30d", "op": "gte", "value": 1}]},
    )
    body = await eligibility(client, role_keys, "nobody")
    assert codes(body, "o-1") == []
    assert codes(body, "o-2") == ["attribute_rule"]
    assert body["segments"] == []


@pytest.mark.parametrize(
    ("caps", "serves", "expected"),
    [
        ({"per_day": 1}, 1, "daily_cap_reached"),
        ({"per_day": 3}, 2, None),
        ({"per_week": 2}, 2, "weekly_cap_reached"),
        ({"lifetime": 1}, 1, "lifetime_cap_reached"),
        ({"lifetime": 2, "per_day": 5}, 1, None),
        ({"per_day": 0}, 0, "daily_cap_reached"),
    ],
)
async def test_contact_caps(
    client: httpx.AsyncClient,
    role_keys: Roles,
    store: RedisStore,
    caps: dict[str, int],
    serves: int,
    expected: str | None,
) -> None:
    await put_offer(client, role_keys, "o-1", caps=caps)
    now = int(time.time())
    for _ in range(serves):
        granted = await store.reserve_contacts("c-1", [("o-1", Caps().script_args())], "w", now)
        assert granted == [None]
    reasons = codes(await eligibility(client, role_keys), "o-1")
    assert reasons == ([] if expected is None else [expected])


async def test_contact_caps_count_across_channels(
    client: httpx.AsyncClient, role_keys: Roles, store: RedisStore
) -> None:
    await put_offer(
        client, role_keys, "o-1", caps={"per_day": 2}, channels={**WEB, "email": {"subject": "S"}}
    )
    now = int(time.time())
    for code in ("w", "e"):
        await store.reserve_contacts("c-1", [("o-1", Caps().script_args())], code, now)
    for channel in ("web", "email"):
        body = await eligibility(client, role_keys, channel=channel)
        assert codes(body, "o-1") == ["daily_cap_reached"]


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        ({"cooldown_after_dismiss_hours": 72}, ["cooling_down"]),
        ({"cooldown_after_dismiss_hours": 0}, []),
        ({}, []),
    ],
)
async def test_dismiss_cooldown(
    client: httpx.AsyncClient,
    role_keys: Roles,
    store: RedisStore,
    caps: dict[str, float],
    expected: list[str],
) -> None:
    await put_offer(client, role_keys, "o-1", caps=caps)
    await store.record_outcome("c-1", "o-1", "x", int(time.time()))
    assert codes(await eligibility(client, role_keys), "o-1") == expected


async def test_dismiss_long_ago_has_cooled_down(
    client: httpx.AsyncClient, role_keys: Roles, store: RedisStore
) -> None:
    await put_offer(client, role_keys, "o-1", caps={"cooldown_after_dismiss_hours": 24})
    await store.record_outcome("c-1", "o-1", "x", int(time.time()) - 25 * 3600)
    assert codes(await eligibility(client, role_keys), "o-1") == []


@pytest.mark.parametrize(("suppress", "expected"), [(True, ["already_converted"]), (False, [])])
async def test_conversion_suppression(
    client: httpx.AsyncClient,
    role_keys: Roles,
    store: RedisStore,
    suppress: bool,
    expected: list[str],
) -> None:
    await put_offer(client, role_keys, "o-1", caps={"suppress_after_conversion": suppress})
    await put_offer(client, role_keys, "o-2")
    await store.record_outcome("c-1", "o-1", "c", int(time.time()))
    body = await eligibility(client, role_keys)
    assert codes(body, "o-1") == expected
    assert codes(body, "o-2") == []  # a conversion suppresses only its own offer


@pytest.mark.parametrize(
    ("spent", "expected"), [(4, []), (5, ["budget_spent"]), (9, ["budget_spent"])]
)
async def test_budget_spent(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis, spent: int, expected: list[str]
) -> None:
    await put_offer(client, role_keys, "o-1", budget={"conversions": 5})
    await put_offer(client, role_keys, "o-2")
    await raw.hset(keys.BUDGET, mapping={"o-1|c": spent, "o-2|c": 1000})
    body = await eligibility(client, role_keys)
    assert codes(body, "o-1") == expected
    assert codes(body, "o-2") == []  # no budget, no limit
    # The budget is catalog-wide: every customer sees it spent.
    assert codes(await eligibility(client, role_keys, "c-2"), "o-1") == expected
