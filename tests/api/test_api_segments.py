"""Segment definitions over HTTP: create/replace, read, list, delete and what blocks a delete."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import assert_not_found

Headers = dict[str, str]
Roles = dict[str, Headers]

LAPSED: dict[str, Any] = {
    "name": "Lapsed buyers",
    "description": "Bought before, not in the last 90 days",
    "rule": {
        "all": [
            {"field": "lifetime_purchases", "op": "gte", "value": 1},
            {"field": "days_since_last_purchase", "op": "gte", "value": 90},
        ]
    },
}


def rule_segment(name: str, field: str, op: str, value: Any) -> dict[str, Any]:
    return {"name": name, "rule": {"all": [{"field": field, "op": op, "value": value}]}}


async def put(
    client: httpx.AsyncClient, roles: Roles, segment_id: str, body: Any
) -> httpx.Response:
    return await client.put(f"/v1/segments/{segment_id}", json=body, headers=roles["marketer"])


async def test_put_and_get_a_segment(client: httpx.AsyncClient, role_keys: Roles) -> None:
    response = await put(client, role_keys, "lapsed", LAPSED)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["segment_id"] == "lapsed"
    assert body["name"] == LAPSED["name"]
    assert body["description"] == LAPSED["description"]
    assert body["kind"] == "rule"
    assert body["rule"] == LAPSED["rule"]
    got = await client.get("/v1/segments/lapsed", headers=role_keys["analyst"])
    assert got.status_code == 200
    assert got.json() == body


async def test_put_replaces_the_definition(client: httpx.AsyncClient, role_keys: Roles) -> None:
    await put(client, role_keys, "s-1", LAPSED)
    replacement = rule_segment("Browsers", "visits_7d", "gte", 3)
    response = await put(client, role_keys, "s-1", replacement)
    assert response.status_code == 200
    got = (await client.get("/v1/segments/s-1", headers=role_keys["marketer"])).json()
    assert got["name"] == "Browsers"
    assert got["rule"] == replacement["rule"]
    assert got["description"] == ""
    listed = (await client.get("/v1/segments", headers=role_keys["marketer"])).json()
    assert [s["segment_id"] for s in listed] == ["s-1"]


async def test_list_returns_every_segment(client: httpx.AsyncClient, role_keys: Roles) -> None:
    assert (await client.get("/v1/segments", headers=role_keys["analyst"])).json() == []
    created = {}
    for n, segment_id in enumerate(["zeta", "alpha", "mid.dle", "b_2"]):
        body = rule_segment(f"Segment {n}", "visits_30d", "gte", n)
        created[segment_id] = (await put(client, role_keys, segment_id, body)).json()
    listed = (await client.get("/v1/segments", headers=role_keys["analyst"])).json()
    assert {s["segment_id"]: s for s in listed} == created
    assert len(listed) == len(created)


async def test_rules_may_use_attributes_once_they_are_known(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    segment = rule_segment("Gold", "tier", "eq", "gold")
    before = await put(client, role_keys, "gold", segment)
    assert before.status_code == 422
    assert before.json()["error"]["field"] == "rule.all[0].field"
    await client.put(
        "/v1/customers/c-1", json={"attributes": {"tier": "gold"}}, headers=role_keys["decide"]
    )
    after = await put(client, role_keys, "gold", segment)
    assert after.status_code == 200
    customer = (await client.get("/v1/customers/c-1", headers=role_keys["analyst"])).json()
    assert customer["segments"] == ["gold"]


async def test_every_operator_is_accepted(client: httpx.AsyncClient, role_keys: Roles) -> None:
    await client.put(
        "/v1/customers/c-1",
        json={"attributes": {"tier": "gold", "opted_in": True, "age": 30}},
        headers=role_keys["decide"],
    )
    rule = {
        "any": [
            {"field": "tier", "op": "eq", "value": "gold"},
            {"field": "tier", "op": "ne", "value": "lead"},
            {"field": "age", "op": "gt", "value": 17},
            {"field": "age", "op": "lt", "value": 65.5},
            {"field": "age", "op": "lte", "value": 65},
            {"field": "tier", "op": "in", "value": ["gold", "silver"]},
            {"field": "tier", "op": "not_in", "value": ["lead"]},
            {"field": "opted_in", "op": "eq", "value": True},
            {"field": "age", "op": "exists"},
            {"field": "age", "op": "between", "value": [18, 18]},
            {"all": [{"field": "last_active_channel", "op": "eq", "value": "web"}]},
        ]
    }
    response = await put(client, role_keys, "mixed", {"name": "Mixed", "rule": rule})
    assert response.status_code == 200, response.text
    assert response.json()["rule"] == rule


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_missing_segment_is_404(
    client: httpx.AsyncClient, role_keys: Roles, method: str
) -> None:
    await put(client, role_keys, "s-1", LAPSED)
    response = await client.request(method, "/v1/segments/s-2", headers=role_keys["marketer"])
    assert_not_found(response, "segment_id", "s-2")


async def test_delete_removes_the_segment(client: httpx.AsyncClient, role_keys: Roles) -> None:
    await client.put(
        "/v1/customers/c-1", json={"attributes": {"tier": "gold"}}, headers=role_keys["decide"]
    )
    await put(client, role_keys, "gold", rule_segment("Gold", "tier", "eq", "gold"))
    await put(client, role_keys, "other", LAPSED)
    customer = (await client.get("/v1/customers/c-1", headers=role_keys["analyst"])).json()
    assert customer["segments"] == ["gold"]

    response = await client.delete("/v1/segments/gold", headers=role_keys["marketer"])
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get("/v1/segments/gold", headers=role_keys["marketer"])).status_code == 404
    listed = (await client.get("/v1/segments", headers=role_keys["marketer"])).json()
    assert [s["segment_id"] for s in listed] == ["other"]
    customer = (await client.get("/v1/customers/c-1", headers=role_keys["analyst"])).json()
    assert customer["segments"] == []


@pytest.mark.parametrize("key", ["segments_any", "segments_none"])
async def test_segment_used_by_an_offer_cannot_be_deleted(
    client: httpx.AsyncClient, role_keys: Roles, key: str
) -> None:
    marketer = role_keys["marketer"]
    await put(client, role_keys, "lapsed", LAPSED)
    for offer_id in ("winback-2", "winback-1"):
        offer = {
            "name": "Win back",
            "channels": {"email": {"subject": "We miss you"}},
            "eligibility": {key: ["lapsed"]},
        }
        created = await client.put(f"/v1/offers/{offer_id}", json=offer, headers=marketer)
        assert created.status_code == 200, created.text

    refused = await client.delete("/v1/segments/lapsed", headers=marketer)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "conflict"
    assert error["field"] == "segment_id"
    assert "winback-1" in error["message"]
    assert "winback-2" in error["message"]
    assert (await client.get("/v1/segments/lapsed", headers=marketer)).status_code == 200

    # Once no offer refers to it any more, it can go.
    await client.delete("/v1/offers/winback-1", headers=marketer)
    await client.put(
        "/v1/offers/winback-2",
        json={"name": "Win back", "channels": {"email": {"subject": "Hi"}}},
        headers=marketer,
    )
    assert (await client.delete("/v1/segments/lapsed", headers=marketer)).status_code == 204


async def test_409_only_for_segments_actually_used(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    marketer = role_keys["marketer"]
    await put(client, role_keys, "used", LAPSED)
    await put(client, role_keys, "unused", LAPSED)
    await client.put(
        "/v1/offers/o-1",
        json={
            "name": "O",
            "channels": {"web": {"title": "T"}},
            "eligibility": {"segments_any": ["used"]},
        },
        headers=marketer,
    )
    assert (await client.delete("/v1/segments/unused", headers=marketer)).status_code == 204
    assert (await client.delete("/v1/segments/used", headers=marketer)).status_code == 409
