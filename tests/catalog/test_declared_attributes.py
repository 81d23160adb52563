"""Declared attributes: rules over them before any data, allowed values, hints, and the cap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from engine.catalog.declarations import declare_attribute
from engine.config import Settings
from engine.customers.service import upsert_attributes
from engine.domain.attributes import AttributeDeclaration
from engine.domain.catalog import Catalog
from engine.errors import AttributeLimitReached, Conflict, ValidationFailed
from engine.store import keys
from engine.store.redis import RedisStore
from tests.conftest import api_client

Roles = dict[str, dict[str, str]]

TIER = {
    "type": "string",
    "description": "Loyalty tier from the CRM",
    "allowed_values": ["gold", "silver", "bronze"],
}


def segment(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"name": f"{field} {op}", "rule": {"all": [{"field": field, "op": op, "value": value}]}}


async def declare(
    client: httpx.AsyncClient, roles: Roles, name: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.put(f"/v1/attributes/{name}", json=body, headers=roles["marketer"])


async def put_segment(
    client: httpx.AsyncClient, roles: Roles, segment_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.put(f"/v1/segments/{segment_id}", json=body, headers=roles["marketer"])


async def put_customer(
    client: httpx.AsyncClient, roles: Roles, customer_id: str, attributes: dict[str, Any]
) -> httpx.Response:
    return await client.put(
        f"/v1/customers/{customer_id}", json={"attributes": attributes}, headers=roles["decide"]
    )


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error of a response refused with ``status``."""
    assert response.status_code == status, response.text
    return error(response)


async def refused_rule(
    client: httpx.AsyncClient, roles: Roles, field: str, op: str, value: Any
) -> dict[str, Any]:
    """The error of a segment whose one rule the declared attributes refuse."""
    return error_of(await put_segment(client, roles, "s", segment(field, op, value)), 422)


@pytest.fixture
async def tier_declared(client: httpx.AsyncClient, role_keys: Roles) -> None:
    """The loyalty tier declared with its allowed values, as a marketer does before rules."""
    assert (await declare(client, role_keys, "tier", TIER)).status_code == 200


async def test_a_rule_on_a_declared_attribute_is_accepted_before_any_customer_has_it(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    gold = segment("tier", "eq", "gold")
    refused = await put_segment(client, role_keys, "gold", gold)
    assert refused.status_code == 422
    assert error(refused)["field"] == "rule.all[0].field"

    declared = await declare(client, role_keys, "tier", TIER)
    assert declared.status_code == 200, declared.text
    assert declared.json() == {"name": "tier", "declared": True, **TIER}

    accepted = await put_segment(client, role_keys, "gold", gold)
    assert accepted.status_code == 200, accepted.text
    offer = {
        "name": "Gold perk",
        "channels": {"web": {"title": "Hello"}},
        "eligibility": {"rules": [{"field": "tier", "op": "in", "value": ["gold", "silver"]}]},
    }
    put = await client.put("/v1/offers/perk", json=offer, headers=role_keys["marketer"])
    assert put.status_code == 200, put.text

    # the first customer with a tier lands in the segment
    assert (await put_customer(client, role_keys, "c-1", {"tier": "gold"})).status_code == 200
    view = await client.get("/v1/customers/c-1", headers=role_keys["analyst"])
    assert view.json()["segments"] == ["gold"]


async def test_attributes_are_read_declared_or_seen_and_declared_by_marketers_only(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    assert (await put_customer(client, role_keys, "c-1", {"age": 41})).status_code == 200
    assert (await declare(client, role_keys, "tier", TIER)).status_code == 200
    plain = {"type": "boolean"}
    by_admin = await client.put("/v1/attributes/vip", json=plain, headers=role_keys["admin"])
    assert by_admin.status_code == 200

    listed = await client.get("/v1/attributes", headers=role_keys["analyst"])
    assert listed.status_code == 200
    assert listed.json() == [
        {"name": "age", "type": "number", "declared": False, "description": "",
         "allowed_values": None},
        {"name": "tier", "declared": True, **TIER},
        {"name": "vip", "type": "boolean", "declared": True, "description": "",
         "allowed_values": None},
    ]  # fmt: skip
    one = await client.get("/v1/attributes/age", headers=role_keys["marketer"])
    assert one.json()["declared"] is False
    missing = await client.get("/v1/attributes/nope", headers=role_keys["analyst"])
    assert missing.status_code == 404
    assert error(missing)["field"] == "name"

    for role in ("decide", "analyst"):
        denied = await client.put("/v1/attributes/x", json=plain, headers=role_keys[role])
        assert denied.status_code == 403
    assert (await client.get("/v1/attributes", headers=role_keys["decide"])).status_code == 403


@pytest.mark.usefixtures("tier_declared")
async def test_allowed_values_bind_customer_writes(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    refused = await put_customer(client, role_keys, "c-1", {"tier": "platinum", "age": 3})
    assert refused.status_code == 422
    assert error(refused)["field"] == "attributes.tier"
    message = error(refused)["message"]
    assert message == '"platinum" is not an allowed value of \'tier\': "bronze", "gold", "silver"'

    view = await client.get("/v1/customers/c-1", headers=role_keys["analyst"])
    assert view.json()["attributes"] == {}  # nothing of the refused write was kept
    assert (await put_customer(client, role_keys, "c-1", {"tier": "silver"})).status_code == 200


@pytest.mark.usefixtures("tier_declared")
async def test_allowed_values_bind_segment_and_offer_rules(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    single = await refused_rule(client, role_keys, "tier", "ne", "platinum")
    assert single["field"] == "rule.all[0].value"
    assert '"gold"' in single["message"]
    listed = await refused_rule(client, role_keys, "tier", "in", ["gold", "tin"])
    assert listed["field"] == "rule.all[0].value[1]"
    one = await refused_rule(client, role_keys, "tier", "not_in", ["tin"])
    assert one["field"] == "rule.all[0].value[0]"
    offer = {
        "name": "Tin perk",
        "channels": {"web": {"title": "Hello"}},
        "eligibility": {"rules": [{"field": "tier", "op": "eq", "value": "tin"}]},
    }
    put = await client.put("/v1/offers/tin", json=offer, headers=role_keys["marketer"])
    assert put.status_code == 422
    assert error(put)["field"] == "eligibility.rules[0].value"
    # presence tests need no allowed value
    exists = await put_segment(client, role_keys, "s", segment("tier", "exists", True))
    assert exists.status_code == 200


@pytest.mark.usefixtures("tier_declared")
async def test_an_unknown_field_says_how_to_fix_it(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    typo = await refused_rule(client, role_keys, "teir", "eq", "gold")
    assert typo["field"] == "rule.all[0].field"
    assert "did you mean 'tier'?" in typo["message"]
    assert "PUT /v1/attributes/teir" in typo["message"]
    feature = await refused_rule(client, role_keys, "visits_7", "gte", 1)
    assert "did you mean 'visits_7d'" in feature["message"]
    novel = await refused_rule(client, role_keys, "loyalty_band", "eq", "a")
    assert "did you mean" not in novel["message"]
    assert "declare it" in novel["message"]
    assert "PUT /v1/attributes/loyalty_band" in novel["message"]


async def test_a_declared_type_binds_customer_writes(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    assert (await declare(client, role_keys, "score", {"type": "number"})).status_code == 200
    refused = error_of(await put_customer(client, role_keys, "c-1", {"score": "high"}), 422)
    assert refused["field"] == "attributes.score"
    assert "declared number" in refused["message"]
    assert (await put_customer(client, role_keys, "c-1", {"score": 7.5})).status_code == 200


async def test_a_declaration_cannot_change_a_type_in_force(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    assert (await put_customer(client, role_keys, "c-1", {"plan": "basic"})).status_code == 200
    clash = error_of(await declare(client, role_keys, "plan", {"type": "number"}), 409)
    assert clash["field"] == "type"
    assert "string" in clash["message"]
    # declaring the type data already fixed is fine, and so is redeclaring its description
    assert (await declare(client, role_keys, "plan", {"type": "string"})).status_code == 200
    assert (await declare(client, role_keys, "score", {"type": "number"})).status_code == 200
    again = await declare(client, role_keys, "score", {"type": "boolean"})
    assert again.status_code == 409
    described = await declare(client, role_keys, "score", {"type": "number", "description": "d"})
    assert described.json()["description"] == "d"


@pytest.mark.usefixtures("tier_declared")
async def test_narrowing_allowed_values_that_rules_still_use_is_refused(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    assert (
        await put_segment(client, role_keys, "silver", segment("tier", "eq", "silver"))
    ).is_success
    narrowed = {**TIER, "allowed_values": ["gold", "bronze"]}
    refused = await declare(client, role_keys, "tier", narrowed)
    assert refused.status_code == 409
    assert error(refused)["field"] == "allowed_values"
    assert "segment 'silver'" in error(refused)["message"]
    widened = {**TIER, "allowed_values": ["gold", "silver", "bronze", "platinum"]}
    assert (await declare(client, role_keys, "tier", widened)).status_code == 200
    now = await put_segment(client, role_keys, "p", segment("tier", "eq", "platinum"))
    assert now.status_code == 200


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("tier", {"type": "string", "allowed_values": ["gold", 3]}, "allowed_values[1]"),
        ("tier", {"type": "string", "allowed_values": ["gold", "gold"]}, "allowed_values[1]"),
        ("tier", {"type": "string", "allowed_values": []}, "allowed_values"),
        ("n", {"type": "number", "allowed_values": [1, True]}, "allowed_values[1]"),
        ("tier", {"type": "date"}, "type"),
        ("tier", {"type": "string", "colour": "red"}, "colour"),
        ("visits_7d", {"type": "number"}, "name"),
        ("Tier", {"type": "string"}, "name"),
    ],
)
async def test_bad_declarations_are_refused_naming_the_field(
    client: httpx.AsyncClient, role_keys: Roles, name: str, body: dict[str, Any], field: str
) -> None:
    response = await declare(client, role_keys, name, body)
    assert response.status_code == 422, response.text
    assert error(response)["field"] == field


# --- the cap on undeclared attributes ---------------------------------------------------------


@pytest.fixture
async def capped(settings: Settings, raw: redis.Redis) -> AsyncIterator[httpx.AsyncClient]:
    """An API whose customer writes may introduce at most two undeclared attributes."""
    async with api_client(settings.model_copy(update={"max_undeclared_attributes": 2})) as c:
        yield c


async def test_customer_writes_introduce_at_most_the_cap_of_undeclared_attributes(
    capped: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis
) -> None:
    assert (await put_customer(capped, role_keys, "c-1", {"a1": 1, "a2": "x"})).status_code == 200
    refused = await put_customer(capped, role_keys, "c-1", {"a1": 2, "a3": True})
    assert refused.status_code == 422
    assert error(refused) == {
        "code": "attribute_limit_reached",
        "field": "attributes.a3",
        "message": error(refused)["message"],
    }
    assert "limit of 2" in error(refused)["message"]
    assert "PUT /v1/attributes/a3" in error(refused)["message"]
    assert not await raw.hexists(keys.SCHEMA, "a3")
    view = await capped.get("/v1/customers/c-1", headers=role_keys["analyst"])
    assert view.json()["attributes"] == {"a1": 1, "a2": "x"}  # the refused write kept nothing

    # known and declared attributes stay writable; declaring does not count against the cap
    assert (await declare(capped, role_keys, "a3", {"type": "boolean"})).status_code == 200
    assert (await declare(capped, role_keys, "tier", TIER)).status_code == 200
    ok = await put_customer(capped, role_keys, "c-1", {"a1": 3, "a3": True, "tier": "gold"})
    assert ok.status_code == 200, ok.text
    # an undeclared attribute that gets declared frees its place under the cap
    assert (await declare(capped, role_keys, "a1", {"type": "number"})).status_code == 200
    assert (await put_customer(capped, role_keys, "c-2", {"a4": 1})).status_code == 200
    assert (await put_customer(capped, role_keys, "c-2", {"a5": 1})).status_code == 422


async def test_the_cap_holds_when_many_new_attributes_race(
    settings: Settings, raw: redis.Redis
) -> None:
    store = RedisStore.from_settings(settings.model_copy(update={"max_undeclared_attributes": 5}))
    try:
        empty = Catalog(version=0)  # every writer believes its attribute is new
        now = time.time()
        results = await asyncio.gather(
            *(upsert_attributes(store, empty, f"c-{i}", {f"attr_{i}": i}, now) for i in range(40)),
            return_exceptions=True,
        )
    finally:
        await store.close()
    refused = [r for r in results if isinstance(r, AttributeLimitReached)]
    assert len(refused) == 35
    assert all(r.field == f"attributes.{r.name}" for r in refused)
    assert await raw.hlen(keys.SCHEMA) == 5
    written = [i for i, r in enumerate(results) if r is None]
    assert sorted(await raw.hkeys(keys.SCHEMA)) == sorted(f"attr_{i}" for i in written)


async def test_a_declaration_racing_a_first_write_of_another_type_is_refused(
    store: RedisStore,
    raw: redis.Redis,
) -> None:
    stale = Catalog(version=0)  # neither side has seen the other's type yet
    await upsert_attributes(store, stale, "c-1", {"plan": "basic"}, time.time())
    with pytest.raises(Conflict) as refused:
        await declare_attribute(store, stale, "plan", AttributeDeclaration(type="number"))
    assert refused.value.field == "type"
    assert await raw.hget(keys.SCHEMA, "plan") == "string"
    assert not await raw.hexists(keys.ATTRIBUTE_DECLARATIONS, "plan")
    # and the other way round: a declared type wins over a first write that has not seen it
    await declare_attribute(store, stale, "score", AttributeDeclaration(type="number"))
    with pytest.raises(ValidationFailed) as clash:
        await upsert_attributes(store, stale, "c-1", {"score": "high"}, time.time())
    assert clash.value.field == "attributes.score"
