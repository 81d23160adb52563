"""A store outage and its end: fallback decisions reach the store and their events join.

Each test runs its own embedded Valkey, stopped and started again on the same port, so the
session's server stays up for the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from engine.config import Settings
from engine.store import keys
from engine.store.embedded import embedded_valkey
from tests.conftest import api_client, free_port
from tests.helpers import event_on

ADMIN = {"Authorization": "Bearer outage-admin-key-0123456789"}


@dataclass
class Outage:
    """A store that can be killed and brought back on the same address."""

    data_dir: Path
    port: int
    stack: ExitStack

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.stack.enter_context(embedded_valkey(self.data_dir, persist=False, port=self.port))

    def stop(self) -> None:
        self.stack.close()
        self.stack = ExitStack()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[redis.Redis]:
        """A plain client on the store, to see what the API wrote once it is back."""
        raw = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            yield raw
        finally:
            await raw.aclose()


@contextmanager
def outage_store(tmp_path: Path) -> Iterator[Outage]:
    outage = Outage(tmp_path, free_port(), ExitStack())
    outage.start()
    try:
        yield outage
    finally:
        outage.stop()


def serving(store: Outage) -> Settings:
    """The API's settings over the outage's store, with no learner to need it meanwhile."""
    return Settings(
        redis_url=store.url,
        admin_key=ADMIN["Authorization"].removeprefix("Bearer "),
        log_level="warning",
        learner="off",
    )


@pytest.fixture
async def outage(tmp_path: Path) -> AsyncIterator[tuple[Outage, httpx.AsyncClient]]:
    with outage_store(tmp_path) as store:
        async with api_client(serving(store)) as c:
            yield store, c


async def fallback_decision(store: Outage, client: httpx.AsyncClient) -> dict[str, Any]:
    """An untargeted offer, a decision with the store up (the catalog is cached), then one
    while it is down."""
    offer = {"name": "Welcome", "channels": {"web": {"title": "Hello"}}, "value": 3.0}
    assert (await client.put("/v1/offers/o-safe", json=offer, headers=ADMIN)).status_code == 200
    request = {"customer_id": "c-1", "channel": "web"}
    normal = await client.post("/v1/decisions", json=request, headers=ADMIN)
    assert normal.json()["fallback"] is False
    store.stop()
    r = await client.post("/v1/decisions", json=request, headers=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["fallback"] is True
    assert [o["offer_id"] for o in body["offers"]] == ["o-safe"]
    return body


async def test_fallback_log_is_written_after_the_outage_without_any_request(
    outage: tuple[Outage, httpx.AsyncClient],
) -> None:
    store, client = outage
    body = await fallback_decision(store, client)
    store.start()
    async with store.reader() as raw:
        deadline = time.monotonic() + 3
        logged: list[str] = []
        while body["decision_id"] not in logged:
            assert time.monotonic() < deadline, "the fallback log stayed in memory"
            await asyncio.sleep(0.1)
            entries = await raw.xrange(keys.DECISION_LOG)
            logged = [fields["decision_id"] for _, fields in entries]
        customer_id, token = keys.split_decision_id(body["decision_id"]) or ("", "")
        record = await raw.hgetall(keys.customer_decision(customer_id, token))
        assert record["pol"] == "fallback"
        assert record["o:o-safe"] == "1|1.0"
        ttl = await raw.ttl(keys.customer_decision(customer_id, token))
        assert 0 < ttl <= 3600 + 86_400  # the web window plus the late-event grace


async def test_an_event_for_a_fallback_decision_joins_once_the_store_is_back(
    outage: tuple[Outage, httpx.AsyncClient],
) -> None:
    store, client = outage
    body = await fallback_decision(store, client)
    event = event_on(body, "e-1")  # on o-safe, the only offer
    down = await client.post("/v1/events", json=event, headers=ADMIN)
    assert down.status_code == 503  # not acknowledged: the client sends it again
    store.start()
    # at once, before the background retry: the event has the queued record written first
    r = await client.post("/v1/events", json=event, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {"event_id": "e-1", "status": "accepted", "learned": False}
    again = await client.post("/v1/events", json=event, headers=ADMIN)
    assert again.json()["status"] == "duplicate"
    async with store.reader() as raw:
        # decided without a feature vector: nothing of it goes to the learner
        assert not await raw.exists(keys.model_key("global", "rewards"))


async def test_an_event_for_an_unknown_decision_is_still_404_while_a_backlog_waits(
    outage: tuple[Outage, httpx.AsyncClient],
) -> None:
    store, client = outage
    await fallback_decision(store, client)
    store.start()
    event = {"event_id": "e-2", "decision_id": "d-123~c-1", "offer_id": "o-safe", "type": "click"}
    r = await client.post("/v1/events", json=event, headers=ADMIN)
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "decision_id"


async def test_shutdown_writes_what_the_outage_left_queued(tmp_path: Path) -> None:
    with outage_store(tmp_path) as store:
        async with api_client(serving(store)) as c:
            body = await fallback_decision(store, c)
            store.start()
        async with store.reader() as raw:
            entries = await raw.xrange(keys.DECISION_LOG)
            assert body["decision_id"] in [fields["decision_id"] for _, fields in entries]


async def test_the_demo_catalog_has_a_fallback_offer_on_every_channel(
    outage: tuple[Outage, httpx.AsyncClient],
) -> None:
    import io

    from rich.console import Console

    from engine.domain.channels import CHANNELS
    from engine.synthetic.demo import DemoConfig, load_demo

    store, client = outage
    settings = Settings(redis_url=store.url, log_level="warning")
    config = DemoConfig(customers=20, experiment_decisions=0)
    await load_demo(settings, store.url, config, Console(file=io.StringIO()))
    request = {"customer_id": "c-1", "channel": "web"}
    assert (await client.post("/v1/decisions", json=request, headers=ADMIN)).status_code == 200
    store.stop()
    for channel in CHANNELS:
        request = {"customer_id": "c-1", "channel": channel}
        body = (await client.post("/v1/decisions", json=request, headers=ADMIN)).json()
        assert body["fallback"] is True
        assert body["offers"], f"no fallback offer on {channel}"
