"""Decision latency against pacing: back to back, and with pauses that let the machine idle.

The load tests show a decision at 100/s slower than a decision at saturation's start. This
separates the cause: the same ``nbo serve`` (one worker, pinned to core 0 with its store) is
driven by a few httpx clients on core 1, first back to back, then with pauses between
requests. If latency grows with the pauses while the server is mostly idle, the extra is the
cost of waking the server and the store (three store round trips per decision, each may meet
a sleeping Valkey), not of work queued behind other requests.

    .venv/bin/python bench/idle_latency.py [--requests 400]

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

from engine.embedded import embedded_valkey

OUT = Path(__file__).resolve().parent / "out" / "idle_latency.json"
NBO = str(Path(sys.executable).with_name("nbo"))
CHANNELS = ("web", "email", "mobile_app", "push")


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if hasattr(os, "sched_setaffinity") else []


async def _drive(base: str, key: str, users: int, pause: float, requests: int) -> dict[str, Any]:
    latencies: list[float] = []
    rng = random.Random(7)

    async def user(client: httpx.AsyncClient) -> None:
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

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        for _ in range(50):  # warm-up
            await client.post("/v1/decisions", json={"customer_id": "c-1", "channel": "web"})
        await asyncio.gather(*(user(client) for _ in range(users)))
    latencies.sort()
    return {
        "users": users,
        "pause_ms": pause * 1000,
        "p50_ms": round(latencies[len(latencies) // 2], 2),
        "p90_ms": round(latencies[int(len(latencies) * 0.9)], 2),
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
                asyncio.run(_drive("http://127.0.0.1:8793", key, users, pause, args.requests))
                for users, pause in ((1, 0.0), (1, 0.01), (1, 0.1), (13, 0.1))
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
        print(
            f"{run['users']:>2} client(s), pause {run['pause_ms']:>5.0f} ms: "
            f"p50 {run['p50_ms']:.2f} ms, p90 {run['p90_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()
