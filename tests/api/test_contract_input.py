"""Bad input gets the contract's answer, whatever route it is sent to.

Bodies that are not UTF-8 JSON, or are nested past the limit, are 400 ``invalid_json`` naming
``body``; a body without a JSON Content-Type is 415; JSON values are taken as their JSON types
(``"2"`` is not a number); timestamps before 2000 are refused naming the field; an unknown
activity metric or a malformed cursor is 422. Nothing refused writes to the store.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from api.middleware import MAX_JSON_DEPTH
from engine.catalog.documents import parse_entity_tags
from tests.helpers import rules_vs_bandit, stored

Roles = dict[str, dict[str, str]]
VIEW = {"type": "page_view", "channel": "web"}

# (method, path, role): one route of each kind that takes a body
BODY_ROUTES = [
    ("POST", "/v1/decisions", "decide"),
    ("PUT", "/v1/customers/c-1", "decide"),
    ("POST", "/v1/customers/c-1/activities", "decide"),
    ("POST", "/v1/events", "decide"),
    ("PUT", "/v1/offers/o-1", "marketer"),
    ("PUT", "/v1/segments/s-1", "marketer"),
    ("POST", "/v1/keys", "admin"),
]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["message"]
    return error


def deep(depth: int) -> bytes:
    """``{"attributes": {"x": [[...]]}}`` with ``depth`` levels of nesting in all."""
    return b'{"attributes": {"x": ' + b"[" * (depth - 2) + b"1" + b"]" * (depth - 2) + b"}}"


NOT_JSON = {
    "truncated": b'{"customer_id": "c-1", "channel": "web"',
    "trailing garbage": b'{"customer_id": "c-1"} x',
    "single quotes": b"{'customer_id': 'c-1'}",
    "not UTF-8": b'{"customer_id": "c-\xff\xfe"}',
    "UTF-16": '{"customer_id": "c-1"}'.encode("utf-16"),
    "lone surrogate escape": b'{"customer_id": "\\ud800"}',
    "NaN": b'{"limit": NaN}',
    "empty object key only": b"{",
}


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
async def test_a_body_that_is_not_json_is_400_invalid_json(
    client: httpx.AsyncClient,
    role_keys: Roles,
    raw: redis.Redis,
    route: tuple[str, str, str],
    body: bytes,
) -> None:
    method, path, role = route
    before = await stored(raw)
    headers = {**role_keys[role], "content-type": "application/json"}
    response = await client.request(method, path, content=body, headers=headers)
    error = error_of(response, 400)
    assert error["code"] == "invalid_json"
    assert error["field"] == "body"
    assert await stored(raw) == before


async def test_json_nested_past_the_limit_is_400_and_at_the_limit_is_judged_by_the_route(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis
) -> None:
    headers = {**role_keys["decide"], "content-type": "application/json"}
    too_deep = await client.put(
        "/v1/customers/c-1", content=deep(MAX_JSON_DEPTH + 1), headers=headers
    )
    error = error_of(too_deep, 400)
    assert (error["code"], error["field"]) == ("invalid_json", "body")
    assert "nested" in error["message"]
    # at the limit the body is JSON, and the route refuses a list attribute naming it
    at_limit = await client.put("/v1/customers/c-1", content=deep(MAX_JSON_DEPTH), headers=headers)
    error = error_of(at_limit, 422)
    assert error["field"] == "attributes.x"
    assert [k async for k in raw.scan_iter(match="{c:c-1}*")] == []


@pytest.mark.parametrize("depth", [400, 1100])
async def test_json_nested_hundreds_deep_is_400_not_a_server_error(
    client: httpx.AsyncClient, role_keys: Roles, depth: int
) -> None:
    """Deeper than Python's recursion limit, and deeper than orjson's own 1024 levels."""
    headers = {**role_keys["decide"], "content-type": "application/json"}
    body = b"[" * depth + b"]" * depth
    error = error_of(await client.post("/v1/decisions", content=body, headers=headers), 400)
    assert (error["code"], error["field"]) == ("invalid_json", "body")


async def assert_timestamp_refused(client: httpx.AsyncClient, roles: Roles, when: Any) -> None:
    """A page view at ``when``, sent alone, is refused naming its timestamp."""
    response = await client.post(
        "/v1/customers/c-1/activities", json={**VIEW, "timestamp": when}, headers=roles["decide"]
    )
    assert error_of(response, 422)["field"] == "timestamp"


@pytest.mark.parametrize("when", [1_700_000_000, "1700000000", True])
async def test_a_timestamp_is_an_iso_string_not_a_number(
    client: httpx.AsyncClient, role_keys: Roles, when: Any
) -> None:
    await assert_timestamp_refused(client, role_keys, when)


@pytest.mark.parametrize(
    "tag", ['"' + "9" * 5000 + '"', '"-1"', '"1e3"'], ids=["5000-digits", "negative", "exponent"]
)
async def test_an_entity_tag_that_is_no_version_of_ours_matches_nothing(
    client: httpx.AsyncClient, role_keys: Roles, tag: str
) -> None:
    offer = {"name": "O", "channels": {"web": {"title": "T"}}}
    created = await client.put("/v1/offers/o-1", json=offer, headers=role_keys["marketer"])
    assert created.status_code == 200, created.text
    response = await client.put(
        "/v1/offers/o-1", json=offer, headers={**role_keys["marketer"], "If-Match": tag}
    )
    assert response.status_code == 412, response.text  # a tag naming no version: stale
    assert response.json()["error"]["field"] == "If-Match"


def test_digits_beyond_ascii_name_no_version() -> None:
    """str.isdigit() holds for '\u00b2', which int() refuses: such a tag must name nothing."""
    assert parse_entity_tags('"\u00b2", "3"', "If-Match") == frozenset({3})


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
async def test_a_body_without_a_json_content_type_is_415(
    client: httpx.AsyncClient,
    role_keys: Roles,
    raw: redis.Redis,
    route: tuple[str, str, str],
    content_type: str | None,
) -> None:
    method, path, role = route
    before = await stored(raw)
    headers = dict(role_keys[role])
    if content_type is not None:
        headers["content-type"] = content_type
    request = client.build_request(method, path, content=b'{"attributes": {}}', headers=headers)
    assert request.headers.get("content-type") == content_type  # httpx adds none for bytes
    error = error_of(await client.send(request), 415)
    assert error["code"] == "unsupported_media_type"
    assert error["field"] == "Content-Type"
    assert "application/json" in error["message"]
    assert await stored(raw) == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8"],
)
async def test_json_content_types_are_accepted(
    client: httpx.AsyncClient, role_keys: Roles, content_type: str
) -> None:
    headers = {**role_keys["decide"], "content-type": content_type}
    response = await client.put(
        "/v1/customers/c-1", content=b'{"attributes": {"tier": "gold"}}', headers=headers
    )
    assert response.status_code == 200, response.text


async def test_a_post_without_a_body_needs_no_content_type(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    request = client.build_request("POST", "/v1/decisions", headers=role_keys["decide"])
    error = error_of(await client.send(request), 422)  # the route's own answer: body required
    assert error["code"] == "validation_error"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/decisions", {"customer_id": "c-1", "channel": "web", "limit": "2"}, "limit"),
        ("/v1/decisions", {"customer_id": "c-1", "channel": "web", "limit": 2.5}, "limit"),
        ("/v1/decisions", {"customer_id": "c-1", "channel": "web", "limit": True}, "limit"),
        ("/v1/decisions", {"customer_id": 1, "channel": "web"}, "customer_id"),
        (
            "/v1/customers/c-1/activities",
            {"type": "purchase", "channel": "web", "value": "5"},
            "value",
        ),
        (
            "/v1/events",
            {"event_id": "e", "decision_id": "d", "offer_id": "o", "type": "click", "value": "1"},
            "value",
        ),
    ],
)
async def test_json_values_are_not_coerced(
    client: httpx.AsyncClient,
    role_keys: Roles,
    raw: redis.Redis,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    before = await stored(raw)
    response = await client.post(path, json=body, headers=role_keys["decide"])
    error = error_of(response, 422)
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert await stored(raw) == before


async def test_a_whole_number_written_with_a_fraction_is_an_integer(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    """JSON has one number type, and JSON Schema's integer includes 2.0."""
    response = await client.post(
        "/v1/decisions",
        json={"customer_id": "c-1", "channel": "web", "limit": 2.0},
        headers=role_keys["decide"],
    )
    assert response.status_code == 200, response.text


async def test_offer_numbers_and_booleans_are_not_coerced(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    offer = {"name": "O", "channels": {"web": {"title": "T"}}}
    for changes, field in [({"weight": "2"}, "weight"), ({"value": "10"}, "value")]:
        response = await client.put(
            "/v1/offers/o-1", json={**offer, **changes}, headers=role_keys["marketer"]
        )
        assert error_of(response, 422)["field"] == field
    accepted = await client.put(
        "/v1/offers/o-1",
        json={**offer, "weight": 2, "start_at": "2026-01-01T00:00:00Z"},
        headers=role_keys["marketer"],
    )
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize("when", ["1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z"])
async def test_an_activity_before_2000_is_refused_naming_its_timestamp(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis, when: str
) -> None:
    await assert_timestamp_refused(client, role_keys, when)
    batch = await client.post(
        "/v1/customers/c-1/activities:batch",
        json={"activities": [VIEW, {**VIEW, "timestamp": when}]},
        headers=role_keys["decide"],
    )
    assert error_of(batch, 422)["field"] == "activities[1].timestamp"
    assert [k async for k in raw.scan_iter(match="{c:c-1}*")] == []
    event = await client.post(
        "/v1/events",
        json={
            "event_id": "e",
            "decision_id": "d",
            "offer_id": "o",
            "type": "click",
            "timestamp": when,
        },
        headers=role_keys["decide"],
    )
    assert error_of(event, 422)["field"] == "timestamp"


async def test_an_activity_of_2000_counts_and_tenure_stays_bounded(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    response = await client.post(
        "/v1/customers/c-1/activities",
        json={**VIEW, "timestamp": "2000-01-01T00:00:00Z"},
        headers=role_keys["decide"],
    )
    assert response.status_code == 200, response.text
    profile = await client.get("/v1/customers/c-1", headers=role_keys["analyst"])
    tenure = profile.json()["features"]["tenure_days"]
    assert 9_000 < tenure < 20_000  # since 2000, not since 1970 (20,789 days)


async def experiment(client: httpx.AsyncClient, roles: Roles) -> None:
    body = rules_vs_bandit(name="Rules vs bandit", hypothesis="The bandit lifts conversion")
    response = await client.put("/v1/experiments/e-1", json=body, headers=roles["marketer"])
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("metric", ["activity:bogus", "activity:", "page_view", "conversion"])
async def test_results_for_an_unknown_metric_are_422(
    client: httpx.AsyncClient, role_keys: Roles, metric: str
) -> None:
    await experiment(client, role_keys)
    response = await client.get(
        "/v1/experiments/e-1/results", params={"metric": metric}, headers=role_keys["analyst"]
    )
    error = error_of(response, 422)
    assert error["field"] == "metric"
    assert "page_view" in error["message"]  # it lists the activity types that are metrics
    known = await client.get(
        "/v1/experiments/e-1/results",
        params={"metric": "activity:purchase"},
        headers=role_keys["analyst"],
    )
    assert known.status_code == 200, known.text


@pytest.mark.parametrize("cursor", ["%%%", "a b", "' OR 1=1", "x" * 65, ""])
async def test_a_malformed_cursor_is_422(
    client: httpx.AsyncClient, role_keys: Roles, cursor: str
) -> None:
    response = await client.get(
        "/v1/offers", params={"cursor": cursor}, headers=role_keys["analyst"]
    )
    assert error_of(response, 422)["field"] == "cursor"
