"""The offer catalog over HTTP: create/replace with versions, read, list with paging, delete."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from tests.helpers import assert_not_found

Headers = dict[str, str]
Roles = dict[str, Headers]

FULL_OFFER: dict[str, Any] = {
    "name": "Free delivery",
    "description": "Free delivery on the next order",
    "status": "active",
    "channels": {
        "web": {"title": "Free delivery", "body": "On your next order", "cta": "Shop"},
        "email": {"subject": "A gift for you", "body": "Free delivery", "url": "https://x.test"},
    },
    "placements": ["home_hero", "cart"],
    "eligibility": {"segments_any": [], "segments_none": [], "rules": []},
    "start_at": "2026-01-01T00:00:00Z",
    "end_at": "2036-01-01T00:00:00+02:00",
    "value": 12.5,
    "weight": 2.0,
    "caps": {"per_day": 1, "per_week": 3, "lifetime": 10, "cooldown_after_dismiss_hours": 72},
    "budget": {"conversions": 1000},
    "tags": ["delivery", "retention"],
}


def minimal(name: str = "Offer", **fields: Any) -> dict[str, Any]:
    return {"name": name, "channels": {"web": {"title": name}}, **fields}


async def put(client: httpx.AsyncClient, roles: Roles, offer_id: str, body: Any) -> httpx.Response:
    return await client.put(f"/v1/offers/{offer_id}", json=body, headers=roles["marketer"])


async def test_put_returns_the_offer_with_defaults(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    response = await put(client, role_keys, "o-1", minimal("Welcome"))
    assert response.status_code == 200
    body = response.json()
    assert body["offer_id"] == "o-1"
    assert body["version"] == 1
    assert body["name"] == "Welcome"
    assert body["status"] == "active"
    assert body["channels"]["web"]["title"] == "Welcome"
    assert body["weight"] == 1.0
    assert body["value"] == 0.0
    assert body["eligibility"] == {"segments_any": [], "segments_none": [], "rules": []}
    assert body["caps"]["suppress_after_conversion"] is True
    assert body["caps"]["per_day"] is None
    assert body["start_at"] is None
    assert body["tags"] == []


async def test_every_field_round_trips(client: httpx.AsyncClient, role_keys: Roles) -> None:
    put_response = await put(client, role_keys, "o-1", FULL_OFFER)
    assert put_response.status_code == 200, put_response.text
    got = await client.get("/v1/offers/o-1", headers=role_keys["analyst"])
    assert got.status_code == 200
    assert got.json() == put_response.json()
    body = got.json()
    for name in ("name", "description", "status", "placements", "value", "weight", "tags"):
        assert body[name] == FULL_OFFER[name], name
    assert body["channels"]["email"]["subject"] == "A gift for you"
    assert body["channels"]["web"]["cta"] == "Shop"
    assert {k: body["caps"][k] for k in FULL_OFFER["caps"]} == FULL_OFFER["caps"]
    assert body["budget"]["conversions"] == 1000
    # Times keep their instant whatever zone they were written in.
    assert body["start_at"].startswith("2026-01-01T00:00:00")
    assert body["end_at"].startswith("2036-01-01T00:00:00")
    assert body["end_at"].endswith("+02:00")


async def test_version_increments_on_every_put(client: httpx.AsyncClient, role_keys: Roles) -> None:
    versions = []
    for n in range(1, 5):
        response = await put(client, role_keys, "o-1", minimal(f"Take {n}"))
        versions.append(response.json()["version"])
        got = (await client.get("/v1/offers/o-1", headers=role_keys["marketer"])).json()
        assert got["version"] == versions[-1]
        assert got["name"] == f"Take {n}"
    assert versions == [1, 2, 3, 4]
    # An identical PUT is still a new version; other offers have their own counter.
    assert (await put(client, role_keys, "o-1", minimal("Take 4"))).json()["version"] == 5
    assert (await put(client, role_keys, "o-2", minimal())).json()["version"] == 1


async def test_put_replaces_rather_than_merges(client: httpx.AsyncClient, role_keys: Roles) -> None:
    await put(client, role_keys, "o-1", FULL_OFFER)
    response = await put(client, role_keys, "o-1", minimal("Bare"))
    body = response.json()
    assert body["tags"] == []
    assert set(body["channels"]) == {"web"}
    assert body["budget"]["conversions"] is None
    got = (await client.get("/v1/offers/o-1", headers=role_keys["marketer"])).json()
    assert got == body


async def test_offer_may_use_existing_segments_and_known_fields(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await client.put(
        "/v1/customers/c-1", json={"attributes": {"tier": "gold"}}, headers=role_keys["decide"]
    )
    await client.put(
        "/v1/segments/lapsed",
        json={"name": "L", "rule": {"field": "days_since_last_purchase", "op": "gte", "value": 90}},
        headers=role_keys["marketer"],
    )
    eligibility = {
        "segments_none": ["lapsed"],
        "rules": [
            {"field": "tier", "op": "in", "value": ["gold", "silver"]},
            {
                "any": [
                    {"field": "visits_30d", "op": "gt", "value": 0},
                    {"field": "tier", "op": "exists"},
                ]
            },
        ],
    }
    response = await put(client, role_keys, "o-1", minimal(eligibility=eligibility))
    assert response.status_code == 200, response.text
    assert response.json()["eligibility"]["segments_none"] == ["lapsed"]
    assert response.json()["eligibility"]["rules"] == eligibility["rules"]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_missing_offer_is_404(
    client: httpx.AsyncClient, role_keys: Roles, method: str
) -> None:
    await put(client, role_keys, "o-1", minimal())
    response = await client.request(method, "/v1/offers/o-2", headers=role_keys["marketer"])
    assert_not_found(response, "offer_id", "o-2")


async def test_delete_removes_the_offer(client: httpx.AsyncClient, role_keys: Roles) -> None:
    marketer = role_keys["marketer"]
    await put(client, role_keys, "o-1", minimal())
    await put(client, role_keys, "o-2", minimal())
    response = await client.delete("/v1/offers/o-1", headers=marketer)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get("/v1/offers/o-1", headers=marketer)).status_code == 404
    listed = (await client.get("/v1/offers", headers=marketer)).json()
    assert [o["offer_id"] for o in listed["items"]] == ["o-2"]
    assert listed["total"] == 1
    assert (await client.delete("/v1/offers/o-1", headers=marketer)).status_code == 404
    # Eligibility no longer lists it either.
    view = await client.get(
        "/v1/customers/c-1/eligibility", params={"channel": "web"}, headers=marketer
    )
    assert [o["offer_id"] for o in view.json()["offers"]] == ["o-2"]


async def test_recreated_offer_gets_a_new_version(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    first = (await put(client, role_keys, "o-1", minimal("Old"))).json()["version"]
    await client.delete("/v1/offers/o-1", headers=role_keys["marketer"])
    again = (await put(client, role_keys, "o-1", minimal("New"))).json()
    assert again["version"] > first
    assert again["name"] == "New"


async def test_empty_catalog_lists_nothing(client: httpx.AsyncClient, role_keys: Roles) -> None:
    response = await client.get("/v1/offers", headers=role_keys["analyst"])
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None, "total": 0}


async def walk(
    client: httpx.AsyncClient, headers: Headers, limit: int, **params: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """Follow next_cursor from the first page to the last; return ids and every page."""
    ids: list[str] = []
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        query: dict[str, str | int] = {"limit": limit, **params}
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get("/v1/offers", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        assert len(page["items"]) <= limit
        ids += [item["offer_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, pages
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 11, 12, 200])
async def test_paging_covers_every_offer_exactly_once(
    client: httpx.AsyncClient, role_keys: Roles, limit: int
) -> None:
    statuses = ["active"] * 6 + ["paused"] * 4 + ["archived"] * 1
    offer_ids = [f"offer-{n:02d}" for n in range(len(statuses))]
    pairs = list(zip(offer_ids, statuses, strict=True))
    random.Random(limit).shuffle(pairs)  # created out of order
    for offer_id, status in pairs:
        assert (await put(client, role_keys, offer_id, minimal(status=status))).status_code == 200

    ids, pages = await walk(client, role_keys["analyst"], limit)
    assert ids == sorted(offer_ids)
    assert all(page["total"] == len(offer_ids) for page in pages)
    assert len(pages) == max(1, -(-len(offer_ids) // limit))
    assert all(len(page["items"]) == limit for page in pages[:-1])
    assert all(p["next_cursor"] == p["items"][-1]["offer_id"] for p in pages[:-1])

    by_status = dict(pairs)
    for status in ("active", "paused", "archived"):
        wanted = sorted(oid for oid, s in by_status.items() if s == status)
        ids, pages = await walk(client, role_keys["marketer"], limit, status=status)
        assert ids == wanted
        assert all(page["total"] == len(wanted) for page in pages)
        items = [item for page in pages for item in page["items"]]
        assert {item["status"] for item in items} == {status}


async def test_paging_survives_a_deleted_cursor(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    for offer_id in ("a", "b", "c", "d", "e"):
        await put(client, role_keys, offer_id, minimal())
    first = (
        await client.get("/v1/offers", params={"limit": 2}, headers=role_keys["marketer"])
    ).json()
    assert [i["offer_id"] for i in first["items"]] == ["a", "b"]
    await client.delete("/v1/offers/b", headers=role_keys["marketer"])
    rest = (
        await client.get(
            "/v1/offers",
            params={"limit": 10, "cursor": first["next_cursor"]},
            headers=role_keys["marketer"],
        )
    ).json()
    assert [i["offer_id"] for i in rest["items"]] == ["c", "d", "e"]
    assert rest["next_cursor"] is None


async def test_listed_items_are_full_offers(client: httpx.AsyncClient, role_keys: Roles) -> None:
    created = (await put(client, role_keys, "o-1", FULL_OFFER)).json()
    await put(client, role_keys, "o-1", FULL_OFFER)  # version 2
    listed = (await client.get("/v1/offers", headers=role_keys["analyst"])).json()
    assert listed["items"] == [{**created, "version": 2}]
