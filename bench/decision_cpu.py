"""CPU per decision in process: the app called as ASGI, no HTTP server, no load generator.

The load tests measure throughput on a shared core, where one run differs from the next by up
to a quarter; a change worth 5% disappears in that noise. This measures what a request costs
the server's own process, in CPU seconds (every thread of the process, so the decision log
written after the response counts), and what it costs Valkey (its ``used_cpu`` over the same
requests), against the floor's app measured the same way in the same run:

* ``floor``: :mod:`loadtests.floor`'s ``POST /v1/decisions``, one pipelined customer read;
* ``floor-commit``: the floor plus a decision-sized commit round trip;
* ``decision``: ``nbo``'s ``POST /v1/decisions`` with a ``decide`` key, the demo catalog of
  100 offers, LinUCB; the in-process learner is off (the load tests price it).

Each case runs ``--requests`` requests from 16 concurrent callers after a warm-up, five times
interleaved, each round with new requests (the same for every case) over 100,000 demo
customers, so that caps exhausted by earlier rounds do not make later decisions cheaper.
Figures are each case's least-interfered round (the minimum, as ``timeit`` advises: other
work on a shared machine only ever adds). Requests are the load tests'
(``decision_body``), from one seed. Not a timed test: run it by hand or through ``make bench``.

    .venv/bin/python -m bench.decision_cpu [--requests 2000]

Writes ``bench/out/decision_cpu.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import redis
from asgi_lifespan import LifespanManager

from api.app import create_app
from engine.config import Settings
from engine.store.embedded import embedded_valkey
from loadtests.floor import COMMIT_PATH, create_floor_app
from loadtests.servers import issue_key as _issue_key
from loadtests.workload import NAME_DECISIONS, decision_body

OUT = Path(__file__).resolve().parent / "out" / "decision_cpu.json"
CUSTOMERS = 100_000  # decisions seldom meet a customer twice: caps stay as fresh as in round 1
CONCURRENCY = 16
ROUNDS = 5
CASES = ("floor", "floor-commit", "decision")

Call = Callable[[bytes], Awaitable[None]]


def _caller(app: Any, path: str, key: str) -> Call:
    """One request through the ASGI app, as uvicorn would hand it over; fails on non-200."""
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
    ]
    raw_path = path.encode()

    async def call(body: bytes) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": raw_path,
            "root_path": "",
            "query_string": b"",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        delivered = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # a client that stays connected
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")

    return call


async def _drive(call: Call, bodies: list[bytes]) -> None:
    async def caller(chunk: list[bytes]) -> None:
        for body in chunk:
            await call(body)

    await asyncio.gather(*(caller(bodies[i::CONCURRENCY]) for i in range(CONCURRENCY)))


def _store_cpu(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _measure(
    redis_url: str, key: str, requests: int, cases: tuple[str, ...]
) -> dict[str, list[dict[str, float]]]:
    # CPU, not latency, is measured here: server, Valkey and 16 callers share one core, where a
    # scheduling gap can outlast the 250 ms socket timeout (a timed-out commit answers 503,
    # never resent), so the socket timeout is generous
    settings = Settings(
        redis_url=redis_url, learner="off", log_level="warning", redis_timeout_ms=5000
    )
    rng = random.Random(7)

    def draw(count: int) -> list[bytes]:
        return [orjson.dumps(decision_body(rng, CUSTOMERS)) for _ in range(count)]

    warmup = draw(max(requests // 10, 100))
    store = redis.Redis.from_url(redis_url)
    samples: dict[str, list[dict[str, float]]] = {case: [] for case in cases}
    async with (
        LifespanManager(create_floor_app(settings)) as floor,
        LifespanManager(create_app(settings)) as nbo,
    ):
        every = {
            "floor": _caller(floor.app, NAME_DECISIONS, key),
            "floor-commit": _caller(floor.app, COMMIT_PATH, key),
            "decision": _caller(nbo.app, NAME_DECISIONS, key),
        }
        calls = {case: every[case] for case in cases}
        for call in calls.values():
            await _drive(call, warmup)
        for _ in range(ROUNDS):
            bodies = draw(requests)  # new requests each round, the same for every case
            for case, call in calls.items():
                store_before, cpu_before = _store_cpu(store), time.process_time()
                started = time.perf_counter()
                await _drive(call, bodies)
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu_before
                store_cpu = _store_cpu(store) - store_before
                samples[case].append(
                    {
                        "cpu_us": cpu / requests * 1e6,
                        "store_us": store_cpu / requests * 1e6,
                        "requests_per_s": requests / elapsed,
                    }
                )
    store.close()
    return samples


def _summary(samples: dict[str, list[dict[str, float]]], requests: int) -> dict[str, Any]:
    cases = {
        case: {
            "cpu_us": round(min(run["cpu_us"] for run in runs), 1),
            "store_us": round(min(run["store_us"] for run in runs), 1),
            "requests_per_s": round(max(run["requests_per_s"] for run in runs), 1),
        }
        for case, runs in samples.items()
    }
    floor = cases.get("floor")
    for figures in cases.values():
        total = figures["cpu_us"] + figures["store_us"]
        figures["total_us"] = round(total, 1)
        if floor is not None:
            figures["cpu_vs_floor"] = round(figures["cpu_us"] / floor["cpu_us"], 2)
            # what one core can serve, server and store together, as a share of the floor's
            figures["core_rate_vs_floor"] = round((floor["cpu_us"] + floor["store_us"]) / total, 3)
    return {
        "requests": requests,
        "concurrency": CONCURRENCY,
        "rounds": ROUNDS,
        "cases": cases,
        "runs": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per case and round")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}"
    )
    args = parser.parse_args()
    cases = tuple(case.strip() for case in args.cases.split(","))
    if unknown := set(cases) - set(CASES):
        parser.error(f"unknown cases {sorted(unknown)}")
    if hasattr(os, "sched_setaffinity"):
        # server and store share one core, as in the load tests (Valkey inherits it)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    nbo = str(Path(sys.executable).with_name("nbo"))
    with (
        tempfile.TemporaryDirectory(prefix="nbo-cpu-") as data_dir,
        embedded_valkey(Path(data_dir), persist=False) as redis_url,
    ):
        env = {**os.environ, "NBO_REDIS_URL": redis_url, "NBO_LOG_LEVEL": "warning"}
        demo = [nbo, "demo", "--customers", str(CUSTOMERS), "--offers", "100"]
        subprocess.run(demo, env=env, check=True, capture_output=True)
        key = _issue_key(redis_url)
        samples = asyncio.run(_measure(redis_url, key, args.requests, cases))
    result = _summary(samples, args.requests)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"{'case':<14}{'server CPU':>12}{'Valkey CPU':>12}{'x floor':>9}{'core rate':>11}")
    for case, figures in result["cases"].items():
        print(
            f"{case:<14}{figures['cpu_us']:>9.0f} µs{figures['store_us']:>9.0f} µs"
            f"{figures.get('cpu_vs_floor', float('nan')):>9.2f}"
            f"{figures.get('core_rate_vs_floor', float('nan')):>11.3f}"
        )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
