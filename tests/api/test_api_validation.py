"""Invalid input on every endpoint: 422 naming the offending field, and nothing written.

Also the transport-level errors: 413 for an oversized body (announced or streamed), 404 and 405
for unknown routes and methods, all in the contract's error shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from engine.config import Settings
from engine.domain.rules import MAX_DEPTH
from engine.store import keys
from tests.helpers import stored

Headers = dict[str, str]
Roles = dict[str, Headers]
Setup = Callable[[httpx.AsyncClient, Roles], Awaitable[None]]

FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat()
WEB = {"web": {"title": "Hi"}}


def offer(**fields: Any) -> dict[str, Any]:
    return {"name": "Offer", "channels": WEB, **fields}


def segment(*conditions: Any, mode: str = "all") -> dict[str, Any]:
    return {"name": "Segment", "rule": {mode: list(conditions)}}


def nested(depth: int) -> dict[str, Any]:
    """A rule ``depth`` levels deep: groups down to one condition."""
    rule: dict[str, Any] = {"field": "visits_7d", "op": "gte", "value": 1}
    for _ in range(depth - 1):
        rule = {"all": [rule]}
    return rule


def nested_path(depth: int) -> str:
    return "rule" + ".all[0]" * (depth - 1)


async def known_attributes(client: httpx.AsyncClient, roles: Roles) -> None:
    """Register attribute types: age (number), tier (string), vip (boolean)."""
    response = await client.put(
        "/v1/customers/c-0",
        json={"attributes": {"age": 30, "tier": "gold", "vip": True}},
        headers=roles["decide"],
    )
    assert response.status_code == 200, response.text


async def a_segment(client: httpx.AsyncClient, roles: Roles) -> None:
    response = await client.put(
        "/v1/segments/known",
        json=segment({"field": "visits_7d", "op": "gte", "value": 1}),
        headers=roles["marketer"],
    )
    assert response.status_code == 200, response.text


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    role: str
    expected: str  # the field the error must name
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    setup: Setup | None = None


def case(
    id: str,
    method: str,
    path: str,
    role: str,
    field: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    params: dict[str, str] | None = None,
    setup: Setup | None = None,
) -> Any:
    endpoint = path.split("/")[2] if path.startswith("/v1/") else path
    return pytest.param(
        Case(id, method, path, role, field, body, raw, params or {}, setup),
        id=f"{method} {endpoint}: {id}",
    )


def customer(id: str, field: str, body: Any = None, **kw: Any) -> Any:
    return case(id, "PUT", "/v1/customers/c-1", "decide", field, body, **kw)


def activity(id: str, field: str, body: Any = None, **kw: Any) -> Any:
    return case(id, "POST", "/v1/customers/c-1/activities", "decide", field, body, **kw)


def batch(id: str, field: str, body: Any = None, **kw: Any) -> Any:
    return case(id, "POST", "/v1/customers/c-1/activities:batch", "decide", field, body, **kw)


def put_offer(id: str, field: str, body: Any = None, **kw: Any) -> Any:
    return case(id, "PUT", "/v1/offers/o-1", "marketer", field, body, **kw)


def put_segment(id: str, field: str, body: Any = None, **kw: Any) -> Any:
    return case(id, "PUT", "/v1/segments/s-1", "marketer", field, body, **kw)


VIEW = {"type": "page_view", "channel": "web"}
GOOD_ATTRIBUTES = {"attributes": {"tier": "gold"}}
TOO_LONG_ID = "c" * 129

CASES = [
    # --- PUT /v1/customers/{id} ---
    customer("attributes missing", "attributes", {}),
    customer("attributes not an object", "attributes", {"attributes": ["tier"]}),
    customer("extra body key", "tags", {"attributes": {}, "tags": []}),
    customer("value is a list", "attributes.x", {"attributes": {"x": [1]}}),
    customer("value is an object", "attributes.x", {"attributes": {"x": {"a": 1}}}),
    customer("value NaN", "body", raw=b'{"attributes": {"x": NaN}}'),
    customer("value Infinity", "body", raw=b'{"attributes": {"x": -Infinity}}'),
    customer("integer beyond 64 bits", "attributes.big", {"attributes": {"big": 10**30}}),
    customer("name not snake case", "attributes.Tier", {"attributes": {"Tier": "x"}}),
    customer("name with a dash", "attributes.my-tier", {"attributes": {"my-tier": "x"}}),
    customer("name is a feature", "attributes.visits_7d", {"attributes": {"visits_7d": 1}}),
    customer("string too long", "attributes.bio", {"attributes": {"bio": "x" * 257}}),
    customer("too many", "attributes", {"attributes": {f"a{n}": n for n in range(101)}}),
    customer(
        "number becomes string",
        "attributes.age",
        {"attributes": {"tier": "silver", "age": "old"}},
        setup=known_attributes,
    ),
    customer(
        "boolean becomes number",
        "attributes.vip",
        {"attributes": {"vip": 1}},
        setup=known_attributes,
    ),
    customer(
        "string becomes boolean",
        "attributes.tier",
        {"attributes": {"tier": False}},
        setup=known_attributes,
    ),
    case("id with a brace", "PUT", "/v1/customers/a{b}", "decide", "customer_id", GOOD_ATTRIBUTES),
    case(
        "id too long",
        "PUT",
        f"/v1/customers/{TOO_LONG_ID}",
        "decide",
        "customer_id",
        GOOD_ATTRIBUTES,
    ),
    case(
        "id starts with dash", "PUT", "/v1/customers/-c", "decide", "customer_id", GOOD_ATTRIBUTES
    ),
    case("id with a space", "PUT", "/v1/customers/a%20b", "decide", "customer_id", GOOD_ATTRIBUTES),
    # --- POST /v1/customers/{id}/activities ---
    activity("type missing", "type", {"channel": "web"}),
    activity("unknown type", "type", {"type": "teleport", "channel": "web"}),
    activity("unknown channel", "channel", {"type": "page_view", "channel": "fax"}),
    activity("purchase without value", "value", {"type": "purchase", "channel": "web"}),
    activity("value on a page view", "value", {**VIEW, "value": 5}),
    activity("negative value", "value", {"type": "purchase", "channel": "web", "value": -1}),
    activity("value NaN", "body", raw=b'{"type": "purchase", "channel": "web", "value": NaN}'),
    activity(
        "value Infinity", "body", raw=b'{"type": "purchase", "channel": "web", "value": Infinity}'
    ),
    activity("timestamp without zone", "timestamp", {**VIEW, "timestamp": "2026-01-01T10:00:00"}),
    activity("timestamp not a date", "timestamp", {**VIEW, "timestamp": "yesterday"}),
    activity("timestamp in the future", "timestamp", {**VIEW, "timestamp": FUTURE}),
    activity("extra key", "campaign", {**VIEW, "campaign": "x"}),
    case(
        "activity id",
        "POST",
        f"/v1/customers/{TOO_LONG_ID}/activities",
        "decide",
        "customer_id",
        VIEW,
    ),
    # --- POST /v1/customers/{id}/activities:batch ---
    batch("activities missing", "activities", {}),
    batch("empty batch", "activities", {"activities": []}),
    batch("over 500", "activities", {"activities": [VIEW] * 501}),
    batch("item not an object", "activities[0]", {"activities": ["page_view"]}),
    batch(
        "future timestamp in item 0",
        "activities[0].timestamp",
        {"activities": [{**VIEW, "timestamp": FUTURE}]},
    ),
    batch(
        "future timestamp in item 1",
        "activities[1].timestamp",
        {"activities": [VIEW, {**VIEW, "timestamp": FUTURE}]},
    ),
    batch(
        "purchase without value in item 2",
        "activities[2].value",
        {"activities": [VIEW, VIEW, {"type": "purchase", "channel": "web"}]},
    ),
    batch(
        "unknown channel in item 0",
        "activities[0].channel",
        {"activities": [{**VIEW, "channel": "tv"}]},
    ),
    batch("extra key in item", "activities[0].extra", {"activities": [{**VIEW, "extra": 1}]}),
    batch(
        "NaN in item",
        "body",
        raw=b'{"activities": [{"type": "purchase", "channel": "web", "value": NaN}]}',
    ),
    batch("extra body key", "source", {"activities": [VIEW], "source": "pos"}),
    case(
        "batch id",
        "POST",
        "/v1/customers/a{b}/activities:batch",
        "decide",
        "customer_id",
        {"activities": [VIEW]},
    ),
    # --- GET and DELETE /v1/customers/{id} ---
    case("get id", "GET", "/v1/customers/a{b}", "analyst", "customer_id"),
    case("get id too long", "GET", f"/v1/customers/{TOO_LONG_ID}", "analyst", "customer_id"),
    case("delete id", "DELETE", "/v1/customers/a{b}", "admin", "customer_id"),
    # --- GET /v1/customers/{id}/eligibility ---
    case("channel missing", "GET", "/v1/customers/c-1/eligibility", "analyst", "channel"),
    case(
        "unknown channel",
        "GET",
        "/v1/customers/c-1/eligibility",
        "marketer",
        "channel",
        params={"channel": "fax"},
    ),
    case(
        "placement too long",
        "GET",
        "/v1/customers/c-1/eligibility",
        "analyst",
        "placement",
        params={"channel": "web", "placement": "p" * 65},
    ),
    case(
        "eligibility id",
        "GET",
        "/v1/customers/a{b}/eligibility",
        "analyst",
        "customer_id",
        params={"channel": "web"},
    ),
    # --- PUT /v1/offers/{id} ---
    put_offer("name missing", "name", {"channels": WEB}),
    put_offer("name empty", "name", offer(name="")),
    put_offer("channels missing", "channels", {"name": "Offer"}),
    put_offer("no creative", "channels", offer(channels={})),
    put_offer("unknown channel", "channels.fax", offer(channels={"fax": {"title": "Hi"}})),
    put_offer("empty creative", "channels.web", offer(channels={"web": {}})),
    put_offer(
        "creative extra key",
        "channels.web.colour",
        offer(channels={"web": {"title": "T", "colour": "red"}}),
    ),
    put_offer(
        "title too long", "channels.web.title", offer(channels={"web": {"title": "t" * 201}})
    ),
    put_offer("unknown status", "status", offer(status="live")),
    put_offer("negative cap", "caps.per_day", offer(caps={"per_day": -1})),
    put_offer("cap not an integer", "caps.per_week", offer(caps={"per_week": 1.5})),
    put_offer(
        "negative cooldown",
        "caps.cooldown_after_dismiss_hours",
        offer(caps={"cooldown_after_dismiss_hours": -2}),
    ),
    put_offer("unknown cap", "caps.per_hour", offer(caps={"per_hour": 1})),
    put_offer("negative budget", "budget.conversions", offer(budget={"conversions": -5})),
    put_offer("zero weight", "weight", offer(weight=0)),
    put_offer("negative value", "value", offer(value=-1)),
    put_offer(
        "weight Infinity",
        "body",
        raw=b'{"name": "O", "channels": {"web": {"title": "T"}}, "weight": Infinity}',
    ),
    put_offer(
        "value NaN",
        "body",
        raw=b'{"name": "O", "channels": {"web": {"title": "T"}}, "value": NaN}',
    ),
    put_offer(
        "end before start",
        "end_at",
        offer(start_at="2030-02-01T00:00:00Z", end_at="2030-01-01T00:00:00Z"),
    ),
    put_offer(
        "end equals start",
        "end_at",
        offer(start_at="2030-01-01T00:00:00Z", end_at="2030-01-01T01:00:00+01:00"),
    ),
    put_offer("start without zone", "start_at", offer(start_at="2030-01-01T00:00:00")),
    put_offer("extra body key", "priority", offer(priority=1)),
    put_offer(
        "unknown segment",
        "eligibility.segments_any[0]",
        offer(eligibility={"segments_any": ["nope"]}),
    ),
    put_offer(
        "second segment unknown",
        "eligibility.segments_none[1]",
        offer(eligibility={"segments_none": ["known", "nope"]}),
        setup=a_segment,
    ),
    put_offer(
        "eligibility extra key", "eligibility.segments_all", offer(eligibility={"segments_all": []})
    ),
    put_offer(
        "rule on unknown field",
        "eligibility.rules[0].field",
        offer(eligibility={"rules": [{"field": "shoe_size", "op": "eq", "value": 42}]}),
    ),
    put_offer(
        "rule with unknown op",
        "eligibility.rules[1].op",
        offer(
            eligibility={
                "rules": [
                    {"field": "visits_7d", "op": "gte", "value": 1},
                    {"field": "visits_7d", "op": "like", "value": 1},
                ]
            }
        ),
    ),
    put_offer(
        "rule value NaN",
        "body",
        raw=b'{"name": "O", "channels": {"web": {"title": "T"}}, '
        b'"eligibility": {"rules": [{"field": "visits_7d", "op": "gte", "value": NaN}]}}',
    ),
    put_offer(
        "rule string against number attribute",
        "eligibility.rules[0].value",
        offer(eligibility={"rules": [{"field": "age", "op": "eq", "value": "30"}]}),
        setup=known_attributes,
    ),
    put_offer(
        "nested rule with bad value",
        "eligibility.rules[0].any[1].value",
        offer(
            eligibility={
                "rules": [
                    {
                        "any": [
                            {"field": "vip", "op": "eq", "value": True},
                            {"field": "vip", "op": "eq", "value": "yes"},
                        ]
                    }
                ]
            }
        ),
        setup=known_attributes,
    ),
    case("offer id with a brace", "PUT", "/v1/offers/o%7B1", "marketer", "offer_id", offer()),
    case("offer id too long", "PUT", f"/v1/offers/{'o' * 65}", "marketer", "offer_id", offer()),
    case("get offer id", "GET", "/v1/offers/-o", "analyst", "offer_id"),
    case("delete offer id", "DELETE", "/v1/offers/o%20o", "marketer", "offer_id"),
    # --- GET /v1/offers ---
    case("limit zero", "GET", "/v1/offers", "analyst", "limit", params={"limit": "0"}),
    case("limit too large", "GET", "/v1/offers", "analyst", "limit", params={"limit": "201"}),
    case("limit not a number", "GET", "/v1/offers", "analyst", "limit", params={"limit": "ten"}),
    case("unknown status", "GET", "/v1/offers", "marketer", "status", params={"status": "live"}),
    case("cursor too long", "GET", "/v1/offers", "analyst", "cursor", params={"cursor": "c" * 65}),
    # --- PUT /v1/segments/{id} ---
    put_segment("name missing", "name", {"rule": nested(1)}),
    put_segment("rule missing", "rule", {"name": "S"}),
    put_segment("extra body key", "owner", {**segment(nested(1)), "owner": "me"}),
    put_segment("rule not an object", "rule", {"name": "S", "rule": ["visits_7d"]}),
    put_segment(
        "unknown field",
        "rule.all[0].field",
        segment({"field": "shoe_size", "op": "eq", "value": 1}),
    ),
    put_segment(
        "string compared with gte on a number",
        "rule.all[0].value",
        segment({"field": "visits_7d", "op": "gte", "value": "10"}),
    ),
    put_segment(
        "boolean compared with a number",
        "rule.all[0].value",
        segment({"field": "visits_7d", "op": "eq", "value": True}),
    ),
    put_segment(
        "order op on a string field",
        "rule.all[0].op",
        segment({"field": "last_active_channel", "op": "gt", "value": "web"}),
    ),
    put_segment(
        "unknown op", "rule.all[0].op", segment({"field": "visits_7d", "op": "~", "value": 1})
    ),
    put_segment("op missing", "rule.all[0].op", segment({"field": "visits_7d", "value": 1})),
    put_segment("value missing", "rule.all[0].value", segment({"field": "visits_7d", "op": "eq"})),
    put_segment("field missing", "rule.all[0].field", segment({"op": "eq", "value": 1})),
    put_segment(
        "extra key in condition",
        "rule.all[0].note",
        segment({"field": "visits_7d", "op": "eq", "value": 1, "note": "x"}),
    ),
    put_segment(
        "between low above high",
        "rule.all[0].value",
        segment({"field": "visits_30d", "op": "between", "value": [10, 2]}),
    ),
    put_segment(
        "between not a pair",
        "rule.all[0].value",
        segment({"field": "visits_30d", "op": "between", "value": [1, 2, 3]}),
    ),
    put_segment(
        "between with a string bound",
        "rule.all[0].value[1]",
        segment({"field": "visits_30d", "op": "between", "value": [1, "5"]}),
    ),
    put_segment(
        "in with a non-list",
        "rule.all[0].value",
        segment({"field": "last_active_channel", "op": "in", "value": "web"}),
    ),
    put_segment(
        "in with an empty list",
        "rule.all[0].value",
        segment({"field": "last_active_channel", "op": "in", "value": []}),
    ),
    put_segment(
        "in with a wrong item type",
        "rule.all[0].value[1]",
        segment({"field": "last_active_channel", "op": "not_in", "value": ["web", 3]}),
    ),
    put_segment(
        "exists with a non-boolean",
        "rule.all[0].value",
        segment({"field": "visits_7d", "op": "exists", "value": "yes"}),
    ),
    put_segment(
        "second condition bad", "rule.any[1].field", segment(nested(1), {"field": "?"}, mode="any")
    ),
    put_segment("empty group", "rule.all", {"name": "S", "rule": {"all": []}}),
    put_segment("group not a list", "rule.any", {"name": "S", "rule": {"any": {"a": 1}}}),
    put_segment(
        "both all and any", "rule", {"name": "S", "rule": {"all": [nested(1)], "any": [nested(1)]}}
    ),
    put_segment(
        "too deep", nested_path(MAX_DEPTH + 1), {"name": "S", "rule": nested(MAX_DEPTH + 1)}
    ),
    put_segment(
        "rule value NaN",
        "body",
        raw=b'{"name": "S", "rule": {"all": [{"field": "visits_7d", "op": "gte", "value": NaN}]}}',
    ),
    put_segment(
        "rule value Infinity",
        "body",
        raw=b'{"name": "S", "rule": {"field": "visits_7d", "op": "lt", "value": Infinity}}',
    ),
    case("segment id", "PUT", "/v1/segments/.s", "marketer", "segment_id", segment(nested(1))),
    case("get segment id", "GET", f"/v1/segments/{'s' * 65}", "analyst", "segment_id"),
    case("delete segment id", "DELETE", "/v1/segments/s%7B", "marketer", "segment_id"),
    # --- /v1/keys ---
    case("unknown role", "POST", "/v1/keys", "admin", "role", {"role": "root", "name": "x"}),
    case("role missing", "POST", "/v1/keys", "admin", "role", {"name": "x"}),
    case("key name empty", "POST", "/v1/keys", "admin", "name", {"role": "decide", "name": ""}),
    case(
        "key extra field",
        "POST",
        "/v1/keys",
        "admin",
        "key",
        {"role": "decide", "name": "x", "key": "mine"},
    ),
    case("key id not hex", "DELETE", "/v1/keys/not-a-key-id", "admin", "key_id"),
    # --- what is not JSON (malformed, NaN or Infinity) is 400 invalid_json naming the body ---
    customer("malformed JSON", "body", raw=b'{"attributes": {"tier": "gold"'),
    put_offer("body is not an object", "body", [offer()]),
]


@pytest.mark.parametrize("invalid", CASES)
async def test_invalid_input_is_4xx_naming_the_field(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis, invalid: Case
) -> None:
    if invalid.setup is not None:
        await invalid.setup(client, role_keys)
    before = await stored(raw)
    headers = dict(role_keys[invalid.role])
    if invalid.content is not None:
        headers["content-type"] = "application/json"
    response = await client.request(
        invalid.method,
        invalid.path,
        json=invalid.json if invalid.content is None else None,
        content=invalid.content,
        params=invalid.params,
        headers=headers,
    )
    not_json = invalid.content is not None and invalid.expected == "body"
    assert response.status_code == (400 if not_json else 422), response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == ("invalid_json" if not_json else "validation_error")
    assert error["field"] == invalid.expected, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert await stored(raw) == before, "a refused request wrote to the store"


def test_every_endpoint_with_input_has_invalid_cases() -> None:
    covered = {(p.values[0].method, p.values[0].path.split("?")[0]) for p in CASES}
    templates = {
        ("PUT", "/v1/customers/c-1"),
        ("GET", "/v1/customers/a{b}"),
        ("DELETE", "/v1/customers/a{b}"),
        ("POST", "/v1/customers/c-1/activities"),
        ("POST", "/v1/customers/c-1/activities:batch"),
        ("GET", "/v1/customers/c-1/eligibility"),
        ("PUT", "/v1/offers/o-1"),
        ("GET", "/v1/offers"),
        ("PUT", "/v1/segments/s-1"),
        ("POST", "/v1/keys"),
        ("DELETE", "/v1/keys/not-a-key-id"),
    }
    assert templates <= covered


async def test_boundaries_are_accepted(client: httpx.AsyncClient, role_keys: Roles) -> None:
    """The limits behind the table hold exactly: one step inside is fine."""
    marketer, decide = role_keys["marketer"], role_keys["decide"]
    deepest = await client.put(
        "/v1/segments/deep", json={"name": "D", "rule": nested(MAX_DEPTH)}, headers=marketer
    )
    assert deepest.status_code == 200, deepest.text
    longest = "c" * 128
    assert (
        await client.put(f"/v1/customers/{longest}", json=GOOD_ATTRIBUTES, headers=decide)
    ).status_code == 200
    assert (
        await client.put(
            "/v1/customers/c-1",
            json={"attributes": {f"a{n}": n for n in range(100)}},
            headers=decide,
        )
    ).status_code == 200
    batch = await client.post(
        "/v1/customers/c-1/activities:batch", json={"activities": [VIEW] * 500}, headers=decide
    )
    assert batch.json() == {"customer_id": "c-1", "accepted": 500, "duplicates": 0}
    zero_caps = offer(caps={"per_day": 0, "lifetime": 0}, weight=0.001, value=0)
    assert (await client.put("/v1/offers/o-1", json=zero_caps, headers=marketer)).status_code == 200
    between = segment({"field": "visits_30d", "op": "between", "value": [2, 2]})
    assert (await client.put("/v1/segments/eq", json=between, headers=marketer)).status_code == 200
    recent = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    one = await client.post(
        "/v1/customers/c-1/activities", json={**VIEW, "timestamp": recent}, headers=decide
    )
    assert one.status_code == 200


async def test_error_lists_every_problem(client: httpx.AsyncClient, role_keys: Roles) -> None:
    response = await client.put(
        "/v1/offers/o-1",
        json={"name": "", "channels": WEB, "caps": {"per_day": -1}, "weight": -3},
        headers=role_keys["marketer"],
    )
    assert response.status_code == 422
    error = response.json()["error"]
    fields = {detail["field"] for detail in error["details"]}
    assert fields == {"name", "caps.per_day", "weight"}
    assert error["field"] in fields
    assert error["message"].startswith(f"{error['field']}: ")


# --- body size ----------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A valid customer upsert of exactly ``size`` bytes (JSON allows trailing whitespace)."""
    body = b'{"attributes": {"tier": "gold"}}'
    return body + b" " * (size - len(body))


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["message"]


async def chunks(body: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_body_at_the_limit_is_accepted(
    client: httpx.AsyncClient, role_keys: Roles, settings: Settings
) -> None:
    headers = {**role_keys["decide"], "content-type": "application/json"}
    body = padded(settings.max_body_bytes)
    response = await client.put("/v1/customers/c-1", content=body, headers=headers)
    assert response.status_code == 200, response.text
    streamed = await client.put("/v1/customers/c-2", content=chunks(body), headers=headers)
    assert streamed.status_code == 200, streamed.text


async def test_body_over_the_limit_with_content_length_is_413(
    client: httpx.AsyncClient, role_keys: Roles, settings: Settings, raw: redis.Redis
) -> None:
    headers = {**role_keys["decide"], "content-type": "application/json"}
    request = client.build_request(
        "PUT", "/v1/customers/c-1", content=padded(settings.max_body_bytes + 1), headers=headers
    )
    assert int(request.headers["content-length"]) == settings.max_body_bytes + 1
    assert_too_large(await client.send(request))
    offers = await client.put(
        "/v1/offers/o-1",
        json=offer(description="d" * 2000, tags=["t" * 1000] * 70),
        headers=role_keys["marketer"],
    )
    assert_too_large(offers)
    assert [k async for k in raw.scan_iter(match="{c:c-1}*")] == []
    assert await raw.hget(keys.OFFERS, "o-1") is None


async def test_streamed_body_over_the_limit_is_413(
    client: httpx.AsyncClient, role_keys: Roles, settings: Settings, raw: redis.Redis
) -> None:
    headers = {**role_keys["decide"], "content-type": "application/json"}
    request = client.build_request(
        "PUT",
        "/v1/customers/c-1",
        content=chunks(padded(settings.max_body_bytes + 1)),
        headers=headers,
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    assert_too_large(await client.send(request))
    assert [k async for k in raw.scan_iter(match="{c:c-1}*")] == []


async def test_lying_content_length_is_still_limited(
    client: httpx.AsyncClient, role_keys: Roles, settings: Settings
) -> None:
    """A small announced length does not let a larger streamed body through."""
    body = padded(settings.max_body_bytes * 2)
    headers = {
        **role_keys["decide"],
        "content-type": "application/json",
        "content-length": "100",
    }
    request = client.build_request(
        "PUT", "/v1/customers/c-1", content=chunks(body), headers=headers
    )
    assert_too_large(await client.send(request))


# --- unknown routes and methods ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nope", "/v1/nope", "/v2/offers", "/v1/customers", "/v1/offers/o-1/extra"]
)
async def test_unknown_route_is_404_in_the_error_shape(
    client: httpx.AsyncClient, role_keys: Roles, path: str
) -> None:
    for headers in ({}, role_keys["admin"]):
        response = await client.get(path, headers=headers)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert error["code"] == "not_found"
        assert isinstance(error["message"], str)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/offers/o-1"), ("PATCH", "/v1/customers/c-1"), ("DELETE", "/healthz")],
)
async def test_wrong_method_is_405_in_the_error_shape(
    client: httpx.AsyncClient, role_keys: Roles, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=role_keys["admin"])
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
