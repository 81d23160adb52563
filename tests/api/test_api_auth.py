"""Who may call what: every v1 endpoint against every role, plus the key lifecycle.

Every endpoint is listed once with the roles the contract grants; admin (and the bootstrap
``NBO_ADMIN_KEY``) may do everything. A request refused with 401 or 403 must leave the store
exactly as it was, so a key never does more than its role even when it is turned away late.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from api.app import create_app
from engine.config import Settings
from engine.store import keys
from tests.helpers import stored

ROLES = ("decide", "client", "marketer", "analyst", "admin")
Headers = dict[str, str]
Setup = Callable[[httpx.AsyncClient, Headers], Awaitable[dict[str, str]]]

OFFER = {"name": "Spring sale", "channels": {"web": {"title": "20% off"}}}
EVENT = {"event_id": "e-1", "decision_id": "d-1~c-1", "offer_id": "o-1", "type": "click"}
EXPERIMENT = {
    "name": "Rules vs bandit",
    "variants": [
        {"id": "control", "weight": 0.5, "treatment": {"policy": "rules"}},
        {"id": "bandit", "weight": 0.5, "treatment": {"policy": "bandit"}},
    ],
    "control": "control",
}
SEGMENT = {"name": "Active", "rule": {"all": [{"field": "visits_30d", "op": "gte", "value": 1}]}}


def _put(path: str, body: dict[str, Any]) -> Setup:
    """A setup that creates, as admin, the one resource the endpoint under test acts on."""

    async def setup(client: httpx.AsyncClient, admin: Headers) -> dict[str, str]:
        response = await client.put(path, json=body, headers=admin)
        assert response.status_code == 200, response.text
        return {}

    return setup


_offer = _put("/v1/offers/o-1", OFFER)
_segment = _put("/v1/segments/s-1", SEGMENT)
_customer = _put("/v1/customers/c-1", {"attributes": {"tier": "gold"}})
_experiment = _put("/v1/experiments/x-1", EXPERIMENT)
_attribute = _put("/v1/attributes/tier", {"type": "string"})


async def _key(client: httpx.AsyncClient, admin: Headers) -> dict[str, str]:
    response = await client.post(
        "/v1/keys", json={"role": "analyst", "name": "spare"}, headers=admin
    )
    assert response.status_code == 201, response.text
    return {"key_id": response.json()["key_id"]}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    allowed: frozenset[str]
    status: int
    body: dict[str, Any] | None = None
    setup: Setup | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _endpoint(
    method: str,
    path: str,
    allowed: tuple[str, ...],
    status: int = 200,
    body: dict[str, Any] | None = None,
    setup: Setup | None = None,
    params: dict[str, str] | None = None,
) -> Endpoint:
    return Endpoint(method, path, frozenset(allowed), status, body, setup, params or {})


ENDPOINTS = [
    _endpoint(
        "PUT", "/v1/customers/c-1", ("decide",), body={"attributes": {"tier": "gold", "age": 30}}
    ),
    _endpoint(
        "POST",
        "/v1/customers/c-1/activities",
        ("decide",),
        body={"type": "page_view", "channel": "web"},
    ),
    _endpoint(
        "POST",
        "/v1/customers/c-1/activities:batch",
        ("decide",),
        body={"activities": [{"type": "app_open", "channel": "mobile_app"}]},
    ),
    _endpoint("GET", "/v1/customers/c-1", ("analyst",), setup=_customer),
    _endpoint("DELETE", "/v1/customers/c-1", (), status=204, setup=_customer),
    _endpoint(
        "GET",
        "/v1/customers/c-1/eligibility",
        ("analyst", "marketer"),
        setup=_offer,
        params={"channel": "web"},
    ),
    _endpoint("PUT", "/v1/offers/o-1", ("marketer",), body=OFFER),
    _endpoint("GET", "/v1/offers/o-1", ("marketer", "analyst"), setup=_offer),
    _endpoint("GET", "/v1/offers", ("marketer", "analyst"), setup=_offer),
    _endpoint("DELETE", "/v1/offers/o-1", ("marketer",), status=204, setup=_offer),
    _endpoint("PATCH", "/v1/offers/o-1", ("marketer",), body={"status": "paused"}, setup=_offer),
    _endpoint("PUT", "/v1/segments/s-1", ("marketer",), body=SEGMENT),
    _endpoint("GET", "/v1/segments/s-1", ("marketer", "analyst"), setup=_segment),
    _endpoint("GET", "/v1/segments", ("marketer", "analyst"), setup=_segment),
    _endpoint("DELETE", "/v1/segments/s-1", ("marketer",), status=204, setup=_segment),
    _endpoint(
        "PATCH", "/v1/segments/s-1", ("marketer",), body={"description": "x"}, setup=_segment
    ),
    _endpoint("POST", "/v1/keys", (), status=201, body={"role": "decide", "name": "app"}),
    _endpoint("GET", "/v1/keys", (), setup=_key),
    _endpoint("DELETE", "/v1/keys/{key_id}", (), status=204, setup=_key),
    _endpoint(
        "POST",
        "/v1/decisions",
        ("decide", "client"),
        body={"customer_id": "c-1", "channel": "web"},
        setup=_offer,
    ),
    # an event for a decision nobody made passes the role check, then is not found
    _endpoint("POST", "/v1/events", ("decide", "client"), status=404, body=EVENT),
    _endpoint("POST", "/v1/events:batch", ("decide", "client"), body={"events": [EVENT]}),
    _endpoint("GET", "/v1/feature-spec", ("analyst", "marketer")),
    _endpoint("PUT", "/v1/feature-spec", (), body={"hash_buckets": 4}),
    _endpoint("GET", "/v1/models", ("analyst", "marketer")),
    _endpoint("PUT", "/v1/experiments/x-1", ("marketer",), body=EXPERIMENT),
    _endpoint("PATCH", "/v1/experiments/x-1", ("marketer",), body={"name": "R"}, setup=_experiment),
    _endpoint("DELETE", "/v1/experiments/x-1", ("marketer",), status=204, setup=_experiment),
    _endpoint("GET", "/v1/experiments/x-1", ("marketer", "analyst"), setup=_experiment),
    _endpoint("GET", "/v1/experiments", ("marketer", "analyst"), setup=_experiment),
    _endpoint("GET", "/v1/experiments/x-1/results", ("marketer", "analyst"), setup=_experiment),
    _endpoint("PUT", "/v1/attributes/tier", ("marketer",), body={"type": "string"}),
    _endpoint("GET", "/v1/attributes/tier", ("marketer", "analyst"), setup=_attribute),
    _endpoint("GET", "/v1/attributes", ("marketer", "analyst"), setup=_attribute),
]
PUBLIC = ["/healthz", "/readyz", "/metrics"]

ALLOWED_CASES = [
    pytest.param(e, role, id=f"{e.id} as {role}")
    for e in ENDPOINTS
    for role in sorted(e.allowed | {"admin", "bootstrap"})
]
FORBIDDEN_CASES = [
    pytest.param(e, role, id=f"{e.id} as {role}")
    for e in ENDPOINTS
    for role in ROLES
    if role != "admin" and role not in e.allowed
]
ENDPOINT_CASES = [pytest.param(e, id=e.id) for e in ENDPOINTS]
BAD_AUTHORIZATION = {
    "unknown key": "Bearer nbo_000000000000_not-a-real-key-at-all",
    "garbage": "Bearer !!garbage!!",
    "empty bearer": "Bearer ",
    "basic scheme": "Basic dXNlcjpwYXNzd29yZA==",
    "no scheme": "test-admin-key-0123456789",
}


async def call(
    client: httpx.AsyncClient, endpoint: Endpoint, path_args: dict[str, str], headers: Headers
) -> httpx.Response:
    return await client.request(
        endpoint.method,
        endpoint.path.format(**path_args),
        json=endpoint.body,
        params=endpoint.params,
        headers=headers,
    )


async def prepare(
    client: httpx.AsyncClient, endpoint: Endpoint, role_keys: dict[str, Headers]
) -> dict[str, str]:
    return await endpoint.setup(client, role_keys["bootstrap"]) if endpoint.setup else {}


def template(path: str) -> str:
    return (
        path.replace("/c-1", "/{customer_id}")
        .replace("/o-1", "/{offer_id}")
        .replace("/s-1", "/{segment_id}")
        .replace("/x-1", "/{experiment_id}")
        .replace("/attributes/tier", "/attributes/{name}")
    )


def test_table_covers_every_v1_route() -> None:
    """A new route cannot slip in without a row here (and so without an access check)."""
    app = create_app(Settings(redis_url="redis://unused"))
    served = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }
    assert served == {(e.method, template(e.path)) for e in ENDPOINTS}


@pytest.mark.parametrize(("endpoint", "role"), ALLOWED_CASES)
async def test_allowed_roles_succeed(
    client: httpx.AsyncClient, role_keys: dict[str, Headers], endpoint: Endpoint, role: str
) -> None:
    path_args = await prepare(client, endpoint, role_keys)
    response = await call(client, endpoint, path_args, role_keys[role])
    assert response.status_code == endpoint.status, response.text


async def refused(
    client: httpx.AsyncClient,
    raw: redis.Redis,
    endpoint: Endpoint,
    roles: dict[str, Headers],
    headers: Headers,
) -> httpx.Response:
    """The endpoint called with ``headers`` once its setup is done; a key turned away, however
    late, must not have written anything."""
    path_args = await prepare(client, endpoint, roles)
    before = await stored(raw)
    response = await call(client, endpoint, path_args, headers)
    assert await stored(raw) == before, response.text
    return response


@pytest.mark.parametrize(("endpoint", "role"), FORBIDDEN_CASES)
async def test_other_roles_are_forbidden_and_change_nothing(
    client: httpx.AsyncClient,
    role_keys: dict[str, Headers],
    raw: redis.Redis,
    endpoint: Endpoint,
    role: str,
) -> None:
    response = await refused(client, raw, endpoint, role_keys, role_keys[role])
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert role in error["message"]


@pytest.mark.parametrize("endpoint", ENDPOINT_CASES)
async def test_missing_key_is_unauthorized(
    client: httpx.AsyncClient,
    role_keys: dict[str, Headers],
    raw: redis.Redis,
    endpoint: Endpoint,
) -> None:
    response = await refused(client, raw, endpoint, role_keys, {})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize("endpoint", ENDPOINT_CASES)
@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION)
async def test_bad_key_is_unauthorized(
    client: httpx.AsyncClient,
    role_keys: dict[str, Headers],
    raw: redis.Redis,
    endpoint: Endpoint,
    authorization: str,
) -> None:
    response = await refused(client, raw, endpoint, role_keys, {"Authorization": authorization})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize("path", PUBLIC)
async def test_operational_endpoints_need_no_key(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    # A bad key does not turn a public endpoint into a protected one.
    response = await client.get(path, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 200


async def test_authentication_comes_before_body_validation(
    client: httpx.AsyncClient, raw: redis.Redis
) -> None:
    """An anonymous caller learns nothing about the body rules: 401, not 422."""
    response = await client.put("/v1/offers/o-1", json={"name": "", "channels": {}})
    assert response.status_code == 401
    response = await client.get("/v1/customers/c-1/eligibility", params={"channel": "fax"})
    assert response.status_code == 401
    assert await stored(raw) == {}


async def test_forbidden_comes_before_not_found(
    client: httpx.AsyncClient, role_keys: dict[str, Headers]
) -> None:
    """A role that may not read offers cannot probe which ids exist."""
    missing = await client.get("/v1/offers/nope", headers=role_keys["decide"])
    assert missing.status_code == 403
    missing = await client.delete("/v1/segments/nope", headers=role_keys["analyst"])
    assert missing.status_code == 403


async def test_bootstrap_key_acts_as_admin(
    client: httpx.AsyncClient, role_keys: dict[str, Headers]
) -> None:
    bootstrap = role_keys["bootstrap"]
    created = await client.post(
        "/v1/keys", json={"role": "marketer", "name": "from bootstrap"}, headers=bootstrap
    )
    assert created.status_code == 201
    marketer = {"Authorization": f"Bearer {created.json()['key']}"}
    assert (await client.put("/v1/offers/o-1", json=OFFER, headers=marketer)).status_code == 200
    erased = await client.delete("/v1/customers/c-1", headers=bootstrap)
    assert erased.status_code == 204
    # The bootstrap key is configuration, not a stored key: it is never listed.
    listed = await client.get("/v1/keys", headers=bootstrap)
    assert "NBO_ADMIN_KEY" not in listed.text
    assert {k["name"] for k in listed.json()} == {
        "from bootstrap",
        *(f"test-{role}" for role in ROLES),
    }


async def test_created_key_secret_is_shown_once_and_stored_hashed(
    client: httpx.AsyncClient, role_keys: dict[str, Headers], raw: redis.Redis
) -> None:
    admin = role_keys["admin"]
    created = await client.post(
        "/v1/keys", json={"role": "decide", "name": "web app"}, headers=admin
    )
    assert created.status_code == 201
    body = created.json()
    secret, key_id = body["key"], body["key_id"]
    assert body["role"] == "decide"
    assert body["name"] == "web app"
    assert len(secret) >= 32

    # The secret works for its role ...
    own = {"Authorization": f"Bearer {secret}"}
    put = await client.put("/v1/customers/c-9", json={"attributes": {"n": 1}}, headers=own)
    assert put.status_code == 200
    # ... and is never shown again.
    listed = await client.get("/v1/keys", headers=admin)
    assert listed.status_code == 200
    entries = {entry["key_id"]: entry for entry in listed.json()}
    assert entries[key_id] == {
        "key_id": key_id,
        "name": "web app",
        "role": "decide",
        "created_at": body["created_at"],
    }
    assert all("key" not in entry for entry in entries.values())
    assert secret not in listed.text

    # Nowhere in the store: not in a key name, a hash field or a value.
    everything = await stored(raw)
    assert keys.API_KEYS in everything
    flat = repr(everything)
    assert key_id in flat  # the record is there, so the scan looked in the right place
    assert secret not in flat
    for role_headers in role_keys.values():
        assert role_headers["Authorization"].removeprefix("Bearer ") not in flat


async def test_revoked_key_is_refused(
    client: httpx.AsyncClient, role_keys: dict[str, Headers]
) -> None:
    admin = role_keys["admin"]
    created = (
        await client.post("/v1/keys", json={"role": "analyst", "name": "temp"}, headers=admin)
    ).json()
    own = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/v1/segments", headers=own)).status_code == 200

    revoked = await client.delete(f"/v1/keys/{created['key_id']}", headers=admin)
    assert revoked.status_code == 204

    refused = await client.get("/v1/segments", headers=own)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    listed = await client.get("/v1/keys", headers=admin)
    assert created["key_id"] not in {entry["key_id"] for entry in listed.json()}
    # Other keys are unaffected, and revoking twice is a 404.
    assert (await client.get("/v1/segments", headers=role_keys["analyst"])).status_code == 200
    again = await client.delete(f"/v1/keys/{created['key_id']}", headers=admin)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"


async def test_key_never_grants_more_than_its_role(
    client: httpx.AsyncClient, role_keys: dict[str, Headers], raw: redis.Redis
) -> None:
    created = await client.post(
        "/v1/keys", json={"role": "analyst", "name": "reader"}, headers=role_keys["admin"]
    )
    analyst = {"Authorization": f"Bearer {created.json()['key']}"}
    before = await stored(raw)
    escalate = await client.post(
        "/v1/keys", json={"role": "admin", "name": "escalated"}, headers=analyst
    )
    assert escalate.status_code == 403
    assert escalate.json()["error"]["code"] == "forbidden"
    assert (await client.get("/v1/keys", headers=analyst)).status_code == 403
    assert await stored(raw) == before


async def test_created_admin_key_can_manage_keys(
    client: httpx.AsyncClient, role_keys: dict[str, Headers]
) -> None:
    created = await client.post(
        "/v1/keys", json={"role": "admin", "name": "ops"}, headers=role_keys["bootstrap"]
    )
    ops = {"Authorization": f"Bearer {created.json()['key']}"}
    issued = await client.post("/v1/keys", json={"role": "decide", "name": "x"}, headers=ops)
    assert issued.status_code == 201
    revoked = await client.delete(f"/v1/keys/{issued.json()['key_id']}", headers=ops)
    assert revoked.status_code == 204
