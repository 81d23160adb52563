"""The bulk demo loader against a real Valkey: it stores what the engine's own scripts store.

The reference is the loader as it was before bulk writing: every customer through
``attributes.lua`` and ``activities.lua`` (the API's write path), from the same generated
customers. Both stores are then compared key by key, and through the engine's customer read.
"""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from typing import Any

import numpy as np
import orjson
import pytest
import redis.asyncio as redis
from rich.console import Console
from typer.testing import CliRunner

from api.cli import app
from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.customers.service import customer_view
from engine.domain.profiles import day_number, encode_activity
from engine.errors import StoreUnavailable
from engine.store.bulk import BulkWriter, _joined, encode_customers
from engine.store.redis import RedisStore
from engine.synthetic.demo import DemoConfig, load_demo
from engine.synthetic.population import (
    BLOCK,
    Population,
    customers_of,
    generate_customer,
    generate_population,
    stored_columns,
)

NOW = 1_790_000_000.0
Dump = dict[str, tuple[dict[str, str], int]]


def quiet() -> Console:
    return Console(file=io.StringIO(), width=100)


async def write_through_scripts(store: RedisStore, population: Population, now: float) -> None:
    """The previous loader: erase, then attributes.lua and activities.lua per customer."""
    customers = customers_of(population)
    for start in range(0, len(customers), 200):
        chunk = customers[start : start + 200]
        await store.erase_customers_many([c.customer_id for c in chunk])
        await store.upsert_attributes_many(
            [
                (
                    c.customer_id,
                    {k: orjson.dumps(v).decode() for k, v in c.attributes.items()},
                    c.signed_up_at,
                )
                for c in chunk
            ]
        )
        await store.record_activities_many(
            [
                (c.customer_id, [encode_activity(a, now) for a in c.activities])
                for c in chunk
                if c.activities
            ],
            day_number(now),
        )


def write_in_bulk(url: str, population: Population, now: float, retention: int) -> None:
    writer = BulkWriter.connect(url, 1.0)
    try:
        middle = len(population) // 2  # two sends: slicing and back-to-back pipelines
        for part in (population.slice(0, middle), population.slice(middle, len(population))):
            writer.send(*encode_customers(stored_columns(part), now, retention))
        writer.wait()
    finally:
        writer.close()


async def dump_customers(raw: redis.Redis) -> Dump:
    out: Dump = {}
    async for key in raw.scan_iter(match="{c:*", count=1000):
        assert await raw.type(key) == "hash", key
        out[key] = (await raw.hgetall(key), await raw.ttl(key))
    return out


async def memory(raw: redis.Redis, keys: list[str]) -> list[int]:
    async with raw.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.memory_usage(key, samples=0)
        return [int(m) for m in await pipe.execute()]


async def erase_customers(raw: redis.Redis) -> None:
    found = [k async for k in raw.scan_iter(match="{c:*", count=1000)]
    for start in range(0, len(found), 1000):
        await raw.delete(*found[start : start + 1000])


async def test_bulk_writes_exactly_what_the_scripts_write(
    settings: Settings, store: RedisStore, raw: redis.Redis
) -> None:
    url = settings.redis_url or ""
    await load_demo(settings, url, DemoConfig(customers=0), quiet(), now=NOW)  # catalog only
    catalog = await CatalogCache(store).get()
    # not block-aligned, several random blocks, customers with and without activity
    population = generate_population(BLOCK - 300, 3 * BLOCK + 200, 5, NOW)
    ids = [f"c-{population.start + i}" for i in range(len(population))]
    assert (np.bincount(population.owner, minlength=len(population)) == 0).any()

    async def views() -> dict[str, Any]:
        out = {}
        for cid in ids:
            view = customer_view(catalog, await store.read_customer(cid), cid, NOW)
            out[cid] = (view.attributes, view.features, view.segments)
        return out

    # the previous loader's pipelines of 200 scripts, with room for a loaded CI machine: a
    # timed-out pipeline is not sent again, so it would fail the comparison, not skew it
    patient = RedisStore.from_settings(settings.model_copy(update={"redis_timeout_ms": 10_000}))
    try:
        await write_through_scripts(patient, population, NOW)
    finally:
        await patient.close()
    expected, expected_views = await dump_customers(raw), await views()
    expected_memory = await memory(raw, sorted(expected))
    await erase_customers(raw)
    write_in_bulk(url, population, NOW, store.retention_seconds)
    written, written_views = await dump_customers(raw), await views()

    assert set(written) == set(expected)
    assert len(written) == 2 * len(population)  # profile and activity hash, nothing else
    for key, (fields, ttl) in expected.items():
        assert written[key][0] == fields, key
        # both expire a retention period after their write
        assert store.retention_seconds - 120 < ttl <= store.retention_seconds
        assert store.retention_seconds - 120 < written[key][1] <= store.retention_seconds
    assert written_views == expected_views
    segments = [s for _, _, found in written_views.values() for s in found]
    assert len(set(segments)) == len(catalog.segments)  # every segment has members
    # same encoding; allocation sizes differ by a size class at most (one HSET vs many)
    written_memory = await memory(raw, sorted(expected))
    for before, after in zip(expected_memory, written_memory, strict=True):
        assert abs(before - after) <= 32
    assert abs(sum(written_memory) - sum(expected_memory)) <= 0.01 * sum(expected_memory)


async def test_a_reload_replaces_every_data_key(settings: Settings, raw: redis.Redis) -> None:
    url = settings.redis_url or ""
    population = generate_population(0, 50, 7, NOW)
    write_in_bulk(url, population, NOW, 0)
    first = await dump_customers(raw)
    assert all(ttl == -1 for _, ttl in first.values())  # retention 0: kept forever
    await raw.hset("{c:c-3}:h", "o-1", "1")  # contact history and an experiment assignment
    await raw.hset("{c:c-3}:x", "exp", "{}")
    await raw.hset("{c:c-3}:f", "20000:w", "5")
    write_in_bulk(url, population, NOW, 0)
    assert await dump_customers(raw) == first


def test_population_is_a_function_of_seed_index_and_now() -> None:
    whole = generate_population(0, 3 * BLOCK, 7, NOW)
    part = generate_population(BLOCK // 2, 2 * BLOCK + 7, 7, NOW)
    again = whole.slice(BLOCK // 2, 2 * BLOCK + 7)
    for name, column in vars(part).items():
        assert np.array_equal(column, vars(again)[name]), name
    assert customers_of(generate_population(0, 40, 7, NOW)) == customers_of(whole.slice(0, 40))
    assert generate_customer(42, 7, NOW) == customers_of(whole)[42]
    assert generate_customer(42, 8, NOW) != generate_customer(42, 7, NOW)
    assert generate_customer(42, 7, NOW + 86_400) != generate_customer(42, 7, NOW)
    payload = encode_customers(stored_columns(part), NOW, 3600)
    again_generated = stored_columns(generate_population(BLOCK // 2, 2 * BLOCK + 7, 7, NOW))
    assert encode_customers(again_generated, NOW, 3600) == payload


def test_the_population_keeps_its_personas_shape() -> None:
    """The demo's segments were tuned on this shape; a change here shows up in them."""
    population = generate_population(0, 20 * BLOCK, 7, NOW)
    customers = np.bincount(population.persona, minlength=9) / len(population)
    assert np.allclose(customers, [0.17, 0.14, 0.19, 0.08, 0.06, 0.07, 0.12, 0.09, 0.08], atol=0.01)
    per_customer = len(population.ts) / len(population)
    assert 20 <= per_customer <= 40
    assert (population.ts <= NOW).all()
    assert (population.ts >= population.signed_up[population.owner]).all()


def test_joined_tokens_of_several_lengths() -> None:
    left = np.array([b"$2\r\nab\r\n", b"$3\r\nabc\r\n", b"$2\r\nxy\r\n"], dtype="S32")
    right = np.array([b"$1\r\n1\r\n", b"$2\r\n22\r\n", b"$1\r\n3\r\n"], dtype="S32")
    assert _joined(left, right).tolist() == [
        b"$2\r\nab\r\n$1\r\n1\r\n",
        b"$3\r\nabc\r\n$2\r\n22\r\n",
        b"$2\r\nxy\r\n$1\r\n3\r\n",
    ]


async def test_bulk_writer_raises_on_a_refusal_and_on_no_store(settings: Settings) -> None:
    writer = BulkWriter.connect(settings.redis_url or "", 1.0)
    try:
        writer.send(b"*1\r\n$4\r\nPING\r\n*1\r\n$11\r\nNOT-A-VERB!\r\n", 2)
        with pytest.raises(StoreUnavailable, match="refused"):
            writer.wait()
    finally:
        writer.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    with pytest.raises(StoreUnavailable):
        BulkWriter.connect(f"redis://127.0.0.1:{port}", 0.5)


async def test_load_demo_writes_the_generated_customers(
    settings: Settings, store: RedisStore
) -> None:
    config = DemoConfig(customers=300, chunk=70, experiment_decisions=0)  # chunks cut blocks
    await load_demo(settings, settings.redis_url or "", config, quiet(), now=NOW)
    catalog = await CatalogCache(store).get()
    for customer in customers_of(generate_population(0, 300, config.seed, NOW)):
        record = await store.read_customer(customer.customer_id)
        view = customer_view(catalog, record, customer.customer_id, NOW)
        assert view.attributes == customer.attributes
        purchases = [a for a in customer.activities if a.type == "purchase"]
        assert view.features["lifetime_purchases"] == len(purchases)
        revenue = round(sum(a.value or 0.0 for a in purchases), 2)
        assert view.features["lifetime_revenue"] == pytest.approx(revenue)
        latest = max((a.timestamp for a in customer.activities if a.timestamp), default=None)
        if latest is None:
            assert view.features["days_since_last_activity"] is None
        else:
            assert view.features["days_since_last_activity"] == int(
                (NOW - latest.timestamp()) // 86_400
            )
        tenure = int((NOW - customer.signed_up_at) // 86_400)
        assert view.features["tenure_days"] == tenure
        if customer.persona == "new":
            assert "new" in view.segments


async def test_cancelling_a_load_stops_it_promptly(settings: Settings, raw: redis.Redis) -> None:
    """Ctrl-C must not leave threads writing the rest of a million customers."""
    config = DemoConfig(customers=1_000_000, experiment_decisions=0)
    task = asyncio.create_task(load_demo(settings, settings.redis_url or "", config, quiet()))
    while await raw.dbsize() < 10_000:
        assert not task.done(), task
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 10
    names = {"nbo-demo-generate", "nbo-bulk-replies"}
    while any(t.name in names for t in threading.enumerate()):
        assert time.monotonic() < deadline, "loader threads still running"
        await asyncio.sleep(0.05)
    assert await raw.dbsize() < 200_000


def test_cli_demo_offers_option(settings: Settings, redis_url: str) -> None:
    runner = CliRunner()
    env = {"NBO_REDIS_URL": redis_url}
    refused = runner.invoke(app, ["demo", "--customers", "10", "--offers", "5"], env=env)
    assert refused.exit_code == 2
    assert "--offers" in refused.output
    loaded = runner.invoke(app, ["demo", "--customers", "20", "--offers", "40"], env=env)
    assert loaded.exit_code == 0, loaded.output
    assert "41 offers" in loaded.output  # 40 active and the paused example
