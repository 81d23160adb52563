"""Shared fixtures: one real Valkey server per test session (or ``NBO_TEST_REDIS_URL``)."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
import uvicorn
from asgi_lifespan import LifespanManager

from engine.access.api_keys import KeyRing
from engine.config import Settings
from engine.store.embedded import embedded_valkey
from engine.store.redis import RedisStore
from tests.helpers import Service

ADMIN_KEY = "test-admin-key-0123456789"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis-protocol server: the one named by NBO_TEST_REDIS_URL, or embedded Valkey."""
    external = os.environ.get("NBO_TEST_REDIS_URL")
    if external:
        yield external
        return
    with (
        tempfile.TemporaryDirectory(prefix="nbo-test-") as data_dir,
        embedded_valkey(Path(data_dir), persist=False) as url,
    ):
        yield url


@pytest.fixture
def settings(redis_url: str) -> Settings:
    # The suite, its servers and its Valkey share two cores in CI, where a scheduling gap can
    # outlast the product's 250 ms socket timeout, and a timed-out command is never resent: a
    # second, not a quarter, so that only a test that means to meets a timeout.
    return Settings(
        redis_url=redis_url,
        admin_key=ADMIN_KEY,
        key_cache_seconds=0,
        log_level="warning",
        learner="off",
        redis_timeout_ms=1000,
    )


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis.Redis]:
    """A plain client; the database is emptied before each test."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def raw_binary(redis_url: str, raw: redis.Redis) -> AsyncIterator[redis.Redis]:
    """A plain client returning bytes (model snapshots, trainer state), on the database ``raw``
    emptied."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def store(settings: Settings, raw: redis.Redis) -> AsyncIterator[RedisStore]:
    s = RedisStore.from_settings(settings)
    try:
        yield s
    finally:
        await s.close()


@asynccontextmanager
async def api_client(
    settings: Settings, base_url: str = "http://nbo.test"
) -> AsyncIterator[httpx.AsyncClient]:
    """The app of ``settings`` through its lifespan, called in process as a server would."""
    from api.app import create_app

    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
            yield c


@pytest.fixture
async def client(settings: Settings, raw: redis.Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings) as c:
        yield c


@pytest.fixture
async def role_keys(store: RedisStore) -> dict[str, dict[str, str]]:
    """Authorization headers for every role, plus the bootstrap admin key."""
    ring = KeyRing(store, None)
    headers = {}
    for role in ("decide", "client", "marketer", "analyst", "admin"):
        _, secret = await ring.issue(role, f"test-{role}")  # type: ignore[arg-type]
        headers[role] = {"Authorization": f"Bearer {secret}"}
    headers["bootstrap"] = {"Authorization": f"Bearer {ADMIN_KEY}"}
    return headers


@pytest.fixture
def service(
    client: httpx.AsyncClient,
    role_keys: dict[str, dict[str, str]],
    settings: Settings,
    store: RedisStore,
    raw: redis.Redis,
) -> Service:
    return Service(client, role_keys, settings, store, raw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_server(settings: Settings, raw: redis.Redis) -> Iterator[str]:
    """A real uvicorn server over the test store (emptied by ``raw``); yields its base URL."""
    from api.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(15)
