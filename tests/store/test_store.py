"""Store behaviour on a real server: one round trip, Cluster-safe keys, erasure, outages."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from redis.asyncio.connection import Connection
from redis.crc import key_slot

from engine.config import Settings
from engine.customers.service import record_activities, upsert_attributes
from engine.domain.catalog import Catalog
from engine.domain.contacts import Caps
from engine.domain.profiles import Activity
from engine.errors import StoreUnavailable
from engine.store import keys
from engine.store.connection import client_options, connection_class, make_client
from engine.store.embedded import embedded_valkey
from engine.store.redis import RedisStore

NOW = time.time()


async def seed_customer(store: RedisStore, customer_id: str) -> None:
    await upsert_attributes(store, Catalog(version=0), customer_id, {"tier": "gold"}, NOW)
    await record_activities(
        store,
        customer_id,
        [Activity(type="purchase", channel="web", value=10.0)],
        NOW,
    )
    await store.reserve_contacts(customer_id, [("o-1", Caps().script_args())], "w", int(NOW))
    await store.record_outcome(customer_id, "o-1", "x", int(NOW))


async def test_customer_read_is_one_round_trip(
    store: RedisStore, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_customer(store, "c-7")
    await store.ping()  # open the connection before counting
    writes: list[int] = []
    counted = connection_class(redis_url)
    assert issubclass(counted, Connection)
    original = counted.send_packed_command

    async def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        writes.append(1)
        await original(self, command, check_health)

    monkeypatch.setattr(counted, "send_packed_command", counting)
    record = await store.read_customer("c-7")
    assert len(writes) == 1
    assert record.attributes
    assert record.activity
    assert record.contacts


async def test_keys_of_one_customer_share_a_slot(store: RedisStore, raw: redis.Redis) -> None:
    await seed_customer(store, "c-9")
    stored = [k async for k in raw.scan_iter(match="*c-9*")]
    assert sorted(stored) == sorted(keys.customer_keys("c-9"))
    assert len({key_slot(k.encode()) for k in stored}) == 1
    config_keys = [
        keys.OFFERS,
        keys.OFFER_VERSIONS,
        keys.SEGMENTS,
        keys.SEGMENT_MODELS,
        keys.SCHEMA,
        keys.ATTRIBUTE_DECLARATIONS,
        keys.CONFIG_VERSION,
    ]
    assert len({key_slot(k.encode()) for k in config_keys}) == 1


async def test_erasure_leaves_no_key_holding_the_customer(
    client: httpx.AsyncClient,
    store: RedisStore,
    raw: redis.Redis,
    role_keys: dict[str, dict[str, str]],
) -> None:
    await seed_customer(store, "c-erase")
    await seed_customer(store, "c-keep")
    r = await client.delete("/v1/customers/c-erase", headers=role_keys["admin"])
    assert r.status_code == 204
    remaining = [k async for k in raw.scan_iter(match="*")]
    # only the tombstone names the customer: it holds the erasure time and expires
    assert [k for k in remaining if "c-erase" in k] == [keys.customer_tombstone("c-erase")]
    assert 0 < await raw.ttl(keys.customer_tombstone("c-erase")) <= 86_400
    for key in remaining:
        kind = await raw.type(key)
        if kind == "hash":
            content = await raw.hgetall(key)
            assert not any("c-erase" in f or "c-erase" in v for f, v in content.items())
    assert [k for k in remaining if "c-keep" in k]
    view = (await client.get("/v1/customers/c-erase", headers=role_keys["analyst"])).json()
    assert view["known"] is False
    assert view["attributes"] == {}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_outage_raises_store_unavailable_and_counts_it() -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{closed_port()}/0", redis_retries=1)
    store = RedisStore.from_settings(settings)
    try:
        retry = make_client(
            settings.redis_url or "", True, 1, **client_options(settings)
        ).get_retry()
        assert retry is not None
        assert retry.get_retries() == 1
        with pytest.raises(StoreUnavailable):
            await store.read_customer("c-1")
    finally:
        await store.close()


async def test_outage_gives_503_and_readyz_fails(redis_url: str) -> None:
    from tests.conftest import api_client

    settings = Settings(
        redis_url=f"redis://127.0.0.1:{closed_port()}/0", admin_key="k" * 20, log_level="warning"
    )
    async with api_client(settings) as c:
        assert (await c.get("/healthz")).status_code == 200
        ready = await c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "store_unavailable"
        r = await c.post(
            "/v1/customers/c-1/activities",
            json={"type": "page_view", "channel": "web"},
            headers={"Authorization": "Bearer " + "k" * 20},
        )
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "store_unavailable"
        metrics = (await c.get("/metrics")).text
        assert 'nbo_store_errors_total{operation="record_activities"}' in metrics


async def test_embedded_store_persists_across_restarts() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        with embedded_valkey(Path(data_dir)) as url:
            client = redis.Redis.from_url(url, decode_responses=True)
            await client.set("durable", "yes")
            await client.aclose()
        assert (Path(data_dir) / "appendonlydir").is_dir()
        with embedded_valkey(Path(data_dir)) as url:
            client = redis.Redis.from_url(url, decode_responses=True)
            assert await client.get("durable") == "yes"
            await client.aclose()


async def test_every_write_refreshes_retention_on_all_customer_keys(
    settings: Settings, store: RedisStore, raw: redis.Redis
) -> None:
    assert store.retention_seconds == settings.customer_retention_days * 86_400 > 0
    await seed_customer(store, "c-ttl")
    for key in keys.customer_keys("c-ttl"):
        ttl = await raw.ttl(key)
        assert store.retention_seconds - 5 <= ttl <= store.retention_seconds
    await raw.expire(keys.customer_attributes("c-ttl"), 100)
    await store.record_outcome("c-ttl", "o-1", "i", int(NOW))
    assert await raw.ttl(keys.customer_attributes("c-ttl")) > 100


async def test_retention_zero_keeps_data_forever(settings: Settings, raw: redis.Redis) -> None:
    forever = RedisStore.from_settings(settings.model_copy(update={"customer_retention_days": 0}))
    try:
        await seed_customer(forever, "c-forever")
        for key in keys.customer_keys("c-forever"):
            assert await raw.ttl(key) == -1
    finally:
        await forever.close()


async def test_replies_read_from_the_buffer_match_redis_py_including_errors(
    settings: Settings, raw: redis.Redis, redis_url: str
) -> None:
    """The store's connections return replies hiredis already holds without redis-py's read
    path; every reply, error replies included, must come back exactly as redis-py's own."""
    plain = redis.Redis.from_url(redis_url, decode_responses=True)
    packed = make_client(redis_url, True, 2, **client_options(settings))
    packed_binary = make_client(redis_url, False, 2, **client_options(settings))
    try:
        await plain.hset("h", mapping={"a": "1", "b": "2"})
        await plain.set("s", "v")
        results = []
        for client in (packed, plain):
            async with client.pipeline(transaction=False) as pipe:
                pipe.hgetall("h")
                pipe.get("h")  # WRONGTYPE: an error reply in the middle of the pipeline
                pipe.get("s")
                pipe.lrange("missing", 0, -1)
                pipe.incr("s")  # an error reply last
                results.append(await pipe.execute(raise_on_error=False))
        ours, theirs = results
        assert [type(r) for r in ours] == [type(r) for r in theirs]
        assert [str(r) for r in ours] == [str(r) for r in theirs]
        assert ours[0] == {"a": "1", "b": "2"}
        assert ours[2] == "v"
        assert ours[3] == []
        assert isinstance(ours[1], redis.ResponseError)
        assert "WRONGTYPE" in str(ours[1])
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            await packed.get("h")
        assert await packed.get("s") == "v"  # the connection is still in step
        binary = await packed_binary.hgetall("h")
        assert binary == {b"a": b"1", b"b": b"2"}
    finally:
        await plain.aclose()
        await packed.aclose()
        await packed_binary.aclose()


# A script that counts its runs, then keeps the server busy for ARGV[1] loop iterations.
_SLOW_COUNT = """
redis.call('INCR', KEYS[1])
local x = 0
for i = 1, tonumber(ARGV[1]) do x = x + i end
return 1
"""


async def test_a_write_that_timed_out_is_not_sent_again(
    settings: Settings, raw: redis.Redis
) -> None:
    # A pipeline that outlives the socket timeout (a loaded machine, a big batch) has run on
    # the server all the same: sending it again applied its non-idempotent writes twice (an
    # activity counted twice). Connection errors are still retried.
    settings = settings.model_copy(update={"redis_timeout_ms": 250})  # the product's default
    assert settings.redis_retries >= 1
    timings = []
    for _ in range(3):  # the least interfered calibration: a busy machine only slows it down
        started = time.perf_counter()
        await raw.eval(_SLOW_COUNT, 1, "calibrate", 2_000_000)
        timings.append((time.perf_counter() - started) / 2_000_000)
    per_iteration = min(timings)
    # 8 scripts of a quarter timeout: the client gives up during the fifth at the latest, and
    # the server is free again soon enough for a second sending to get through
    each = settings.redis_timeout_ms / 1000 / 4
    packed = make_client(settings.redis_url or "", True, 4, **client_options(settings))
    try:
        async with packed.pipeline(transaction=False) as pipe:
            for _ in range(8):
                pipe.eval(_SLOW_COUNT, 1, "slow-count", int(each / per_iteration))
            with pytest.raises(redis.TimeoutError):
                await pipe.execute()
    finally:
        await packed.aclose()
    await asyncio.sleep(32 * each)  # a second sending, had there been one, is done by now
    assert await raw.get("slow-count") == "8"
