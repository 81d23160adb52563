"""An outage degrades, it does not lock out: keys verified before it keep working during it.

Each test runs its own embedded Valkey and stops it for real halfway; the session's server
is shared with every other test and stays up.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from engine.access.api_keys import KeyRing
from engine.config import Settings
from engine.errors import Unauthorized
from engine.store.embedded import embedded_valkey
from engine.store.redis import RedisStore
from tests.conftest import api_client

ADMIN = {"Authorization": "Bearer " + "a" * 24}
OFFER = {"name": "Spring sale", "channels": {"web": {"title": "20% off"}}}
DECISION = {"customer_id": "c-1", "channel": "web"}


class Outage:
    """A Valkey of this test's own, and the switch that stops it."""

    def __init__(self, stack: ExitStack, url: str) -> None:
        self._stack = stack
        self.url = url

    def begin(self) -> None:
        self._stack.close()


@pytest.fixture
def outage() -> Iterator[Outage]:
    stack = ExitStack()
    try:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="nbo-outage-"))
        url = stack.enter_context(embedded_valkey(Path(data_dir), persist=False))
        yield Outage(stack, url)
    finally:
        stack.close()  # a second close (after begin) does nothing


def key_lookup_failures() -> float:
    value = REGISTRY.get_sample_value("nbo_store_errors_total", {"operation": "get_api_key"})
    return value or 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def api(outage: Outage) -> AsyncIterator[httpx.AsyncClient]:

    settings = Settings(
        redis_url=outage.url,
        admin_key=ADMIN["Authorization"].removeprefix("Bearer "),
        key_cache_seconds=0,  # every request looks its key up: the outage is met at once
        redis_retries=0,
        log_level="warning",
        learner="off",
    )
    async with api_client(settings) as c:
        yield c


async def issue(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    created = await client.post("/v1/keys", json={"role": role, "name": role}, headers=ADMIN)
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


async def test_keys_verified_before_an_outage_get_the_fallback_during_it(
    api: httpx.AsyncClient, outage: Outage
) -> None:
    assert (await api.put("/v1/offers/o-1", json=OFFER, headers=ADMIN)).status_code == 200
    app_key = await issue(api, "decide")
    page_key = await issue(api, "client")
    never_used = await issue(api, "decide")
    for key in (app_key, page_key):
        before = await api.post("/v1/decisions", json=DECISION, headers=key)
        assert before.status_code == 200, before.text
        assert before.json()["fallback"] is False

    outage.begin()

    for key in (app_key, page_key):
        during = await api.post("/v1/decisions", json=DECISION, headers=key)
        assert during.status_code == 200, during.text
        body = during.json()
        assert body["fallback"] is True
        assert body["reason"] == "store_unavailable"
        assert [o["offer_id"] for o in body["offers"]] == ["o-1"]
    # what needs the store still says so: the key passed, the write cannot be done
    write = await api.put("/v1/customers/c-1", json={"attributes": {"a": 1}}, headers=app_key)
    assert write.status_code == 503
    assert write.json()["error"]["code"] == "store_unavailable"
    # a key nobody can vouch for now is refused as unknown, not left to guess at a 503
    for key in (never_used, {"Authorization": "Bearer nbo_0123456789ab_forged-key-material"}):
        refused = await api.post("/v1/decisions", json=DECISION, headers=key)
        assert refused.status_code == 401, refused.text
        error = refused.json()["error"]
        assert error["code"] == "unauthorized"
        assert "store is unavailable" in error["message"]
        assert refused.headers["www-authenticate"].lower().startswith("bearer")


async def test_stale_acceptance_is_bounded_and_never_outlives_revocation(
    outage: Outage,
) -> None:
    settings = Settings(redis_url=outage.url, redis_retries=0)
    store = RedisStore.from_settings(settings)
    clock = Clock()
    try:
        ring = KeyRing(store, None, cache_seconds=5, stale_seconds=60, clock=clock)
        other_worker = KeyRing(store, None, cache_seconds=5, stale_seconds=60, clock=clock)
        no_stale = KeyRing(store, None, cache_seconds=0, stale_seconds=0, clock=clock)
        kept, kept_secret = await ring.issue("client", "web page")
        revoked, revoked_secret = await ring.issue("decide", "old app")
        for secret in (kept_secret, revoked_secret):
            assert await ring.verify(secret) is not None
        assert (await no_stale.verify(kept_secret)).key_id == kept.key_id
        # revoked by another worker; this one learns it at its next lookup
        await other_worker.revoke(revoked.key_id)
        clock.now += 10
        with pytest.raises(Unauthorized, match="revoked"):
            await ring.verify(revoked_secret)

        outage.begin()

        clock.now += 49  # 59 s after the last successful lookup
        failures = key_lookup_failures()
        assert (await ring.verify(kept_secret)).key_id == kept.key_id
        assert key_lookup_failures() == failures + 1
        # trusted for a cache period again: the next requests do not each wait on the store
        assert (await ring.verify(kept_secret)).key_id == kept.key_id
        assert key_lookup_failures() == failures + 1
        with pytest.raises(Unauthorized, match="store is unavailable"):
            await ring.verify(revoked_secret)
        with pytest.raises(Unauthorized, match="store is unavailable"):
            await no_stale.verify(kept_secret)
        clock.now += 2  # 61 s
        with pytest.raises(Unauthorized, match="store is unavailable"):
            await ring.verify(kept_secret)
    finally:
        await store.close()
