"""Keys never give more than their role: write answers, the client role, CORS, rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from pydantic import ValidationError

from engine.access.ratelimit import RateLimiter
from engine.config import RateLimit, Settings
from engine.errors import RateLimited
from tests.conftest import api_client

Headers = dict[str, str]
Roles = dict[str, Headers]
Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

OFFER = {"name": "Spring sale", "channels": {"web": {"title": "20% off"}}}
DECISION = {"customer_id": "c-1", "channel": "web"}
ORIGIN = "https://shop.example"


@pytest.fixture
def app_with(settings: Settings, raw: redis.Redis) -> Client:
    """A client of an app built with ``settings`` changed as given (CORS, limits)."""

    @asynccontextmanager
    async def make(**changes: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with api_client(settings.model_copy(update=changes)) as c:
            yield c

    return make


async def issue(client: httpx.AsyncClient, roles: Roles, role: str) -> Headers:
    created = await client.post(
        "/v1/keys", json={"role": role, "name": f"another {role}"}, headers=roles["bootstrap"]
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


# --- what a write answers -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["decide", "admin"])
async def test_customer_write_answers_no_profile_data(
    client: httpx.AsyncClient, role_keys: Roles, role: str
) -> None:
    """Write access is not read access: the answer names what was written, nothing stored."""
    decide = role_keys["decide"]
    await client.put("/v1/offers/o-1", json=OFFER, headers=role_keys["marketer"])
    first = {"attributes": {"tier": "gold", "email_hash": "h-secret-1"}}
    assert (await client.put("/v1/customers/c-1", json=first, headers=decide)).status_code == 200
    activity = {"type": "purchase", "channel": "web", "value": 99.5}
    await client.post("/v1/customers/c-1/activities", json=activity, headers=decide)
    assert (await client.post("/v1/decisions", json=DECISION, headers=decide)).status_code == 200

    written = await client.put(
        "/v1/customers/c-1",
        json={"attributes": {"age": 41, "tier": None}},
        headers=role_keys[role],
    )
    assert written.status_code == 200, written.text
    assert written.json() == {"customer_id": "c-1", "updated": ["age"], "removed": ["tier"]}
    for stored in ("h-secret-1", "email_hash", "purchase", "o-1", "gold"):
        assert stored not in written.text
    # the write happened, and the analyst still reads the whole profile
    profile = await client.get("/v1/customers/c-1", headers=role_keys["analyst"])
    assert profile.json()["attributes"] == {"email_hash": "h-secret-1", "age": 41}
    assert "o-1" in profile.json()["contact_history"]


# --- the client role ----------------------------------------------------------------------------


async def test_admin_issues_client_keys(client: httpx.AsyncClient, role_keys: Roles) -> None:
    created = await client.post(
        "/v1/keys", json={"role": "client", "name": "checkout page"}, headers=role_keys["admin"]
    )
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "client"
    listed = await client.get("/v1/keys", headers=role_keys["admin"])
    assert {"checkout page": "client"}.items() <= {
        k["name"]: k["role"] for k in listed.json()
    }.items()


async def test_client_key_decides_and_reports_events_only(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    page = await issue(client, role_keys, "client")
    await client.put("/v1/offers/o-1", json=OFFER, headers=role_keys["marketer"])
    decided = await client.post("/v1/decisions", json=DECISION, headers=page)
    assert decided.status_code == 200, decided.text
    decision = decided.json()
    event = {
        "event_id": "e-1",
        "decision_id": decision["decision_id"],
        "offer_id": decision["offers"][0]["offer_id"],
        "type": "impression",
    }
    sent = await client.post("/v1/events", json=event, headers=page)
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "accepted"
    batch = await client.post("/v1/events:batch", json={"events": [event]}, headers=page)
    assert batch.status_code == 200
    assert batch.json()[0]["status"] == "duplicate"

    refused = [
        ("PUT", "/v1/customers/c-1", {"attributes": {"tier": "gold"}}),
        ("POST", "/v1/customers/c-1/activities", {"type": "page_view", "channel": "web"}),
        ("GET", "/v1/customers/c-1", None),
        ("GET", "/v1/customers/c-1/eligibility?channel=web", None),
        ("DELETE", "/v1/customers/c-1", None),
        ("GET", "/v1/offers", None),
        ("GET", "/v1/keys", None),
    ]
    for method, path, body in refused:
        response = await client.request(method, path, json=body, headers=page)
        assert response.status_code == 403, f"{method} {path}: {response.text}"
        assert response.json()["error"]["code"] == "forbidden"
    profile = await client.get("/v1/customers/c-1", headers=role_keys["analyst"])
    assert profile.json()["attributes"] == {}


# --- CORS ---------------------------------------------------------------------------------------


def preflight(method: str = "POST", origin: str = ORIGIN) -> Headers:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }


async def test_cors_admits_configured_origins(app_with: Client, role_keys: Roles) -> None:
    async with app_with(cors_origins=[ORIGIN]) as c:
        allowed = await c.options("/v1/decisions", headers=preflight())
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers

        other = await c.options("/v1/decisions", headers=preflight(origin="https://evil.example"))
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers

        await c.put("/v1/offers/o-1", json=OFFER, headers=role_keys["marketer"])
        page = {**role_keys["client"], "Origin": ORIGIN}
        decided = await c.post("/v1/decisions", json=DECISION, headers=page)
        assert decided.status_code == 200
        assert decided.headers["access-control-allow-origin"] == ORIGIN
        assert "retry-after" in decided.headers["access-control-expose-headers"].lower()


async def test_cors_is_off_by_default(client: httpx.AsyncClient, role_keys: Roles) -> None:
    assert Settings().cors_origins == []
    answered = await client.options("/v1/decisions", headers=preflight())
    assert "access-control-allow-origin" not in answered.headers
    page = {**role_keys["client"], "Origin": ORIGIN}
    response = await client.post("/v1/events:batch", json={"events": []}, headers=page)
    assert response.status_code == 422
    assert "access-control-allow-origin" not in response.headers


# --- rate limits --------------------------------------------------------------------------------


async def test_a_key_past_its_burst_gets_429_with_retry_after(
    app_with: Client, role_keys: Roles
) -> None:
    limits = {"client": RateLimit(per_second=0.1, burst=3)}
    async with app_with(rate_limits=limits, cors_origins=[ORIGIN]) as c:
        await c.put("/v1/offers/o-1", json=OFFER, headers=role_keys["marketer"])
        page = {**role_keys["client"], "Origin": ORIGIN}
        for _ in range(3):
            assert (await c.post("/v1/decisions", json=DECISION, headers=page)).status_code == 200
        limited = await c.post("/v1/decisions", json=DECISION, headers=page)
        assert limited.status_code == 429, limited.text
        assert limited.headers["retry-after"] == "10"  # one token at 0.1/s, rounded up
        assert limited.json()["error"]["code"] == "rate_limited"
        assert "rate limit" in limited.json()["error"]["message"]
        # the page's script may read the wait
        assert "retry-after" in limited.headers["access-control-expose-headers"].lower()
        # every request of the key counts, refused ones too
        forbidden = await c.get("/v1/offers", headers=page)
        assert forbidden.status_code == 429
        # buckets are per key; roles without a limit are not counted
        other_page = await issue(c, role_keys, "client")
        assert (await c.post("/v1/decisions", json=DECISION, headers=other_page)).status_code == 200
        for _ in range(10):
            response = await c.post("/v1/decisions", json=DECISION, headers=role_keys["decide"])
            assert response.status_code == 200


async def test_no_limits_by_default(client: httpx.AsyncClient, role_keys: Roles) -> None:
    assert Settings().rate_limits == {}
    for _ in range(30):
        response = await client.post(
            "/v1/events:batch", json={"events": []}, headers=role_keys["client"]
        )
        assert response.status_code == 422  # judged on its body, never turned away for rate


def test_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter({"client": RateLimit(per_second=2, burst=2)}, clock=lambda: now[0])
    limiter.take("k1", "client")
    limiter.take("k1", "client")
    with pytest.raises(RateLimited) as refused:
        limiter.take("k1", "client")
    assert refused.value.retry_after == 1
    now[0] += 0.5  # one token back
    limiter.take("k1", "client")
    with pytest.raises(RateLimited):
        limiter.take("k1", "client")
    now[0] += 10  # the bucket holds at most its burst
    limiter.take("k1", "client")
    limiter.take("k1", "client")
    with pytest.raises(RateLimited):
        limiter.take("k1", "client")
    limiter.take("k2", "client")  # another key, its own bucket
    for _ in range(100):
        limiter.take("k1", "decide")


def test_limits_and_origins_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NBO_RATE_LIMITS", '{"client": {"per_second": 50, "burst": 100}}')
    monkeypatch.setenv("NBO_CORS_ORIGINS", f'["{ORIGIN}"]')
    monkeypatch.setenv("NBO_KEY_STALE_SECONDS", "30")
    settings = Settings()
    assert settings.rate_limits == {"client": RateLimit(per_second=50, burst=100)}
    assert settings.cors_origins == [ORIGIN]
    assert settings.key_stale_seconds == 30
    monkeypatch.setenv("NBO_RATE_LIMITS", '{"robot": {"per_second": 1, "burst": 1}}')
    with pytest.raises(ValidationError, match="robot"):
        Settings()
    monkeypatch.setenv("NBO_RATE_LIMITS", '{"client": {"per_second": 0, "burst": 1}}')
    with pytest.raises(ValidationError, match="per_second"):
        Settings()


async def test_a_client_key_is_told_no_segment_of_the_customer(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    """Anyone can read a page's key: a decision for it names no segment memberships."""
    page = await issue(client, role_keys, "client")
    decide = role_keys["decide"]
    await client.put("/v1/customers/c-1", json={"attributes": {"tier": "gold"}}, headers=decide)
    vip = {"name": "VIP", "rule": {"field": "tier", "op": "eq", "value": "gold"}}
    assert (
        await client.put("/v1/segments/vip", json=vip, headers=role_keys["marketer"])
    ).status_code == 200
    targeted = {**OFFER, "eligibility": {"segments_any": ["vip"]}}
    await client.put("/v1/offers/o-gold-sale", json=targeted, headers=role_keys["marketer"])
    for_app = (await client.post("/v1/decisions", json=DECISION, headers=decide)).json()
    assert for_app["segments"] == ["vip"]
    assert for_app["offers"][0]["explanation"]["segments"] == ["vip"]
    for_page = (await client.post("/v1/decisions", json=DECISION, headers=page)).json()
    assert for_page["offers"][0]["offer_id"] == "o-gold-sale"  # the same decision...
    assert for_page["segments"] == []  # ...naming no membership
    assert all(o["explanation"]["segments"] == [] for o in for_page["offers"])
    assert "vip" not in str(for_page)
