"""Decision latency against pacing: back to back, and with pauses that let the machine idle.

The load tests show a decision at 100/s slower than a decision at saturation's start. This
separates the cause: the same ``nbo serve`` (one worker, pinned to core 0 with its store) is
driven by a few httpx clients on core 1, first back to back, then with pauses between
requests. If latency grows with the pauses while the server is mostly idle, the extra is the
cost of waking the server and the store (three store round trips per decision, each may meet
a sleeping Valkey), not of work queued behind other requests. The last run paces 13 clients
as the load tests' mix at 100 decisions/s does, with events, and reads the server's own
decision latency from ``/metrics``, to compare with the load tests' server-side figures.

    .venv/bin/python -m bench.idle_latency [--requests 400]

Writes ``bench/out/idle_latency.json``.
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
from pathlib import Path
from typing import Any

import httpx

from engine.store.embedded import embedded_valkey
from loadtests.measure import Buckets, bucket_delta, histogram_buckets, histogram_quantile
from loadtests.workload import NAME_DECISIONS

OUT = Path(__file__).resolve().parent / "out" / "idle_latency.json"
NBO = str(Path(sys.executable).with_name("nbo"))
CHANNELS = ("web", "email", "mobile_app", "push")


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if hasattr(os, "sched_setaffinity") else []


def _server_decisions(base: str) -> Buckets:
    """The server's own decision-latency histogram (what the load tests call server-side)."""
    text = httpx.get(f"{base}/metrics").text
    return histogram_buckets(text, [NAME_DECISIONS])[NAME_DECISIONS]


async def _drive(
    base: str, key: str, users: int, pause: float, requests: int, event_share: float = 0.0
) -> dict[str, Any]:
    """``users`` clients, each pausing ``pause`` after every request; with ``event_share``, an
    impression or click follows that share of the decisions (as the load tests' mix does)."""
    latencies: list[float] = []
    rng = random.Random(7)
    sent_events = 0

    async def user(client: httpx.AsyncClient) -> None:
        nonlocal sent_events
        await asyncio.sleep(rng.random() * pause)
        for _ in range(requests // users):
            body = {
                "customer_id": f"c-{rng.randrange(3000)}",
                "channel": rng.choice(CHANNELS),
                "context": {"page": "home"},
            }
            started = time.perf_counter()
            answer = await client.post("/v1/decisions", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise RuntimeError(answer.text)
            if pause:
                await asyncio.sleep(pause)
            decision = answer.json()
            if event_share and decision["offers"] and rng.random() < event_share:
                sent_events += 1
                event = {
                    "event_id": f"idle-{sent_events}",
                    "decision_id": decision["decision_id"],
                    "offer_id": decision["offers"][0]["offer_id"],
                    "type": rng.choice(("impression", "click")),
                }
                if (await client.post("/v1/events", json=event)).status_code != 200:
                    raise RuntimeError("event refused")
                if pause:
                    await asyncio.sleep(pause)

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        for _ in range(50):  # warm-up
            await client.post("/v1/decisions", json={"customer_id": "c-1", "channel": "web"})
        before = _server_decisions(base)
        await asyncio.gather(*(user(client) for _ in range(users)))
        server = bucket_delta(before, _server_decisions(base))
    latencies.sort()
    server_p50 = histogram_quantile(0.5, server)
    return {
        "users": users,
        "pause_ms": pause * 1000,
        "event_share": event_share,
        "p50_ms": round(latencies[len(latencies) // 2], 2),
        "p90_ms": round(latencies[int(len(latencies) * 0.9)], 2),
        "server_p50_ms": None if server_p50 is None else round(server_p50 * 1000, 2),
        "requests": len(latencies),
    }


def _health(base: str, pause: float, requests: int) -> dict[str, Any]:
    """The same server answering without touching the store: the machine's own wake-up cost."""
    latencies = []
    with httpx.Client(base_url=base) as client:
        for _ in range(requests):
            started = time.perf_counter()
            client.get("/healthz")
            latencies.append((time.perf_counter() - started) * 1000)
            if pause:
                time.sleep(pause)
    latencies.sort()
    return {"pause_ms": pause * 1000, "p50_ms": round(latencies[len(latencies) // 2], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    os.sched_setaffinity(0, {1}) if hasattr(os, "sched_setaffinity") else None
    with tempfile.TemporaryDirectory() as data, embedded_valkey(Path(data), persist=False) as url:
        env = {**os.environ, "NBO_REDIS_URL": url, "NBO_LOG_LEVEL": "warning"}
        subprocess.run(
            [NBO, "demo", "--customers", "3000", "--offers", "100"],
            env=env,
            check=True,
            capture_output=True,
        )
        made = subprocess.run(
            [NBO, "keys", "create", "--role", "decide", "--name", "idle"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        key = made.stdout.strip().splitlines()[-1]
        store_pid = subprocess.run(
            ["pgrep", "-f", url.rsplit(":", 1)[-1]], capture_output=True, text=True
        ).stdout.split()
        for pid in store_pid:
            subprocess.run(["taskset", "-pc", "0", pid], capture_output=True)
        server = subprocess.Popen(
            [*_pin(0), NBO, "serve", "--port", "8793"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    httpx.get("http://127.0.0.1:8793/healthz")
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            runs = [
                asyncio.run(
                    _drive("http://127.0.0.1:8793", key, users, pause, args.requests, events)
                )
                for users, pause, events in (
                    (1, 0.0, 0.0),
                    (1, 0.01, 0.0),
                    (1, 0.1, 0.0),
                    (13, 0.1, 0.0),
                    (13, 0.1, 0.2),  # about the load tests' mix at 100 decisions/s
                )
            ]
            health = [
                _health("http://127.0.0.1:8793", pause, args.requests) for pause in (0.0, 0.01)
            ]
        finally:
            server.terminate()
            server.wait()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"runs": runs, "healthz": health}, indent=2))
    for item in health:
        print(
            f"GET /healthz (no store), pause {item['pause_ms']:>3.0f} ms: "
            f"p50 {item['p50_ms']:.2f} ms"
        )
    for run in runs:
        events = f", events after {run['event_share']:.0%}" if run["event_share"] else ""
        print(
            f"{run['users']:>2} client(s), pause {run['pause_ms']:>5.0f} ms{events}: "
            f"p50 {run['p50_ms']:.2f} ms, p90 {run['p90_ms']:.2f} ms, "
            f"server-side p50 {run['server_p50_ms']} ms"
        )


if __name__ == "__main__":
    main()
