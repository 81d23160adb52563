"""CPU per round trip on the adapter's connections against redis-py's own, same server.

:mod:`engine.store.connection` overrides three methods of redis-py's asyncio connection (C
packing with hiredis, sending without a task per command, replies already buffered returned
at once). This is what justifies keeping them: the process CPU of two round trips a decision
makes, on each client, from one embedded Valkey:

* ``read``: the decision's pipelined read (8 commands: hashes of one customer, the catalog
  version, budgets, assignments, model versions, the request replay);
* ``commit``: one EVALSHA of about 130 arguments, a decision commit's size.

Figures are the least-interfered of five interleaved rounds (other work on a shared machine
only ever adds). ``tests/store/test_store.py`` checks the same connections' replies against
the plain client's, error replies included.

    .venv/bin/python -m bench.store_packing [--rounds 2000]

Writes ``bench/out/store_packing.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio as redis

from bench.results_file import write_result
from engine.config import Settings
from engine.store import keys
from engine.store.connection import client_options, make_client
from engine.store.embedded import embedded_valkey

_ECHO = "return #ARGV"  # a script that costs the server nothing: the client's cost shows


def _read(client: redis.Redis) -> Callable[[], Awaitable[Any]]:
    async def once() -> Any:
        async with client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.customer_attributes("c-1"))
            pipe.hgetall(keys.customer_activity("c-1"))
            pipe.hgetall(keys.customer_contacts("c-1"))
            pipe.get(keys.CONFIG_VERSION)
            pipe.hgetall(keys.BUDGET)
            pipe.hgetall(keys.customer_assignments("c-1"))
            pipe.mget([keys.model_key("global", "version")])
            pipe.get(keys.customer_request("c-1", "r-1"))
            return await pipe.execute()

    return once


def _commit(client: redis.Redis, sha: str) -> Callable[[], Awaitable[Any]]:
    args = [f"field-{i}" if i % 2 else str(i * 7) for i in range(130)]

    async def once() -> Any:
        return await client.evalsha(sha, 1, keys.customer_attributes("c-1"), *args)

    return once


async def _cpu_us(call: Callable[[], Awaitable[Any]], rounds: int) -> float:
    for _ in range(50):
        await call()  # warm: connections open, scripts cached
    started = time.process_time()
    for _ in range(rounds):
        await call()
    return (time.process_time() - started) / rounds * 1e6


async def run(rounds: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as data_dir,
        embedded_valkey(Path(data_dir), persist=False) as url,
    ):
        options = client_options(Settings(redis_url=url))
        plain = redis.Redis(
            connection_pool=redis.ConnectionPool.from_url(url, decode_responses=True, **options)
        )
        packed = make_client(url, True, 8, **options)
        try:
            sha = str(await plain.script_load(_ECHO))
            cases = {
                f"{name}_{which}": make(client)
                for which, client in (("plain", plain), ("packed", packed))
                for name, make in (("read", _read), ("commit", lambda c: _commit(c, sha)))
            }
            best: dict[str, float] = {}
            for _ in range(5):
                for name, call in cases.items():
                    cpu = await _cpu_us(call, rounds)
                    best[name] = min(best.get(name, cpu), cpu)
        finally:
            await plain.aclose()
            await packed.aclose()
    result: dict[str, Any] = {"rounds": rounds}
    for name in ("read", "commit"):
        result[f"{name}_plain_cpu_us"] = best[f"{name}_plain"]
        result[f"{name}_packed_cpu_us"] = best[f"{name}_packed"]
        result[f"{name}_saved_share"] = 1 - best[f"{name}_packed"] / best[f"{name}_plain"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2000, help="round trips per case and round")
    args = parser.parse_args()
    result = asyncio.run(run(args.rounds))
    write_result("store_packing", result, width=30, digits=3)


if __name__ == "__main__":
    main()
