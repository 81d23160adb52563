"""Erasure in a large store: median time of ``DELETE /v1/customers/{id}`` and its commands.

Benchmark results, not timed tests. An embedded Valkey (no persistence) in a temporary
directory is loaded by the demo's bulk loader (``engine.synthetic.demo.load_demo``, what
``nbo demo`` runs: catalog, N customers with activity histories, the demo experiment's
decisions). Then,
``--runs`` times, one demo customer gets a footprint through the API (profile update, three
decisions, a click on each, so decision records, a request replay, log and reward-stream
entries and attribution-queue members) and is erased through the API, in process (httpx's
ASGI transport, as the tests call it). Reported: wall time of the DELETE (median, min, max),
the store's own command count for one erasure (INFO commandstats), and, for comparison, how
long one SCAN pass over the keyspace takes (what the erasure did before the indexes, before
it also read every log).

Run:

    .venv/bin/python bench/erasure.py [--customers 1000000] [--runs 25]

Writes ``bench/out/erasure.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as redis
from asgi_lifespan import LifespanManager
from rich.console import Console

from api.app import create_app
from engine.config import Settings
from engine.store.embedded import embedded_valkey
from engine.synthetic.demo import DemoConfig, load_demo

ADMIN = "bench-admin-key-0123456789"


async def footprint(client: httpx.AsyncClient, headers: dict[str, str], customer: str) -> None:
    r = await client.put(
        f"/v1/customers/{customer}", json={"attributes": {"bench": "yes"}}, headers=headers
    )
    r.raise_for_status()
    for n in range(3):
        body: dict[str, Any] = {"customer_id": customer, "channel": "web"}
        if n == 0:
            body["request_id"] = f"bench-{customer}"
        d = (await client.post("/v1/decisions", json=body, headers=headers)).json()
        if d["offers"]:
            r = await client.post(
                "/v1/events",
                json={
                    "event_id": f"bench-{customer}-{n}",
                    "decision_id": d["decision_id"],
                    "offer_id": d["offers"][0]["offer_id"],
                    "type": "click",
                },
                headers=headers,
            )
            r.raise_for_status()


async def commands(raw: redis.Redis) -> int:
    stats = await raw.info("commandstats")
    return sum(
        int(s["calls"])
        for name, s in stats.items()
        if not name.startswith(("cmdstat_info", "cmdstat_config", "cmdstat_client"))
    )


async def measure(url: str, settings: Settings, runs: int, customers: int) -> dict[str, Any]:
    raw = redis.Redis.from_url(url, decode_responses=True)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    seconds: list[float] = []
    counts: list[int] = []
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nbo.bench") as client:
            for run in range(runs + 1):  # the first run warms connections and caches
                customer = f"c-{(run * 7919) % customers}"
                await footprint(client, headers, customer)
                await raw.config_resetstat()
                started = time.perf_counter()
                r = await client.delete(f"/v1/customers/{customer}", headers=headers)
                elapsed = time.perf_counter() - started
                assert r.status_code == 204, r.text
                if run:
                    seconds.append(elapsed)
                    counts.append(await commands(raw))
    keys = int(await raw.dbsize())
    started = time.perf_counter()
    scanned = 0
    async for _ in raw.scan_iter(match="{c:nobody}:*", count=1000):
        scanned += 1
    scan_seconds = time.perf_counter() - started
    await raw.aclose()
    ms = sorted(s * 1000 for s in seconds)
    return {
        "keys_in_store": keys,
        "runs": runs,
        "delete_ms": {
            "median": round(statistics.median(ms), 2),
            "min": round(ms[0], 2),
            "max": round(ms[-1], 2),
        },
        "store_commands_per_delete": {"min": min(counts), "max": max(counts)},
        "one_keyspace_scan_ms": round(scan_seconds * 1000, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="nbo-bench-") as data_dir,
        embedded_valkey(Path(data_dir), persist=False) as url,
    ):
        settings = Settings(
            redis_url=url, admin_key=ADMIN, learner="off", log_level="warning", key_cache_seconds=60
        )
        started = time.perf_counter()
        await load_demo(
            settings, url, DemoConfig(customers=args.customers), Console(file=io.StringIO())
        )
        load_seconds = time.perf_counter() - started
        result = {
            "command": f".venv/bin/python bench/erasure.py --customers {args.customers} "
            f"--runs {args.runs}",
            "customers": args.customers,
            "load_seconds": round(load_seconds, 1),
            **await measure(url, settings, args.runs, args.customers),
        }
    out = Path(__file__).with_name("out")
    out.mkdir(exist_ok=True)
    (out / "erasure.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
