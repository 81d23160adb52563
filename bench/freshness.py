"""Freshness: time from an accepted reward to a served decision whose model includes it.

Runs the real app (in-process ASGI, its learner as a task, embedded Valkey). For each sample:
make a decision, send a click (the reward), then keep asking for decisions until one is served
by a model version newer than the one before the click. Baseline in the same run: the latency
of one decision request. Run:

    .venv/bin/python -m bench.freshness [--samples 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from api.app import create_app
from bench.results_file import write_result
from engine.config import Settings
from engine.store.embedded import embedded_valkey

ADMIN = "bench-admin-key-0123456789"


async def run(samples: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as data_dir,
        embedded_valkey(Path(data_dir), persist=False) as url,
    ):
        # the learner as a task of this app: the same code and timing as `nbo serve`'s
        # learner process, measured without a second process to start
        settings = Settings(
            redis_url=url, admin_key=ADMIN, log_level="warning", learner="in_process"
        )
        app = create_app(settings)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                auth = {"Authorization": f"Bearer {ADMIN}"}
                for i in range(5):
                    offer = {"name": f"o-{i}", "channels": {"web": {"title": f"t{i}"}}}
                    await client.put(f"/v1/offers/o-{i}", json=offer, headers=auth)
                request = {"customer_id": "c-1", "channel": "web", "context": {"page": "home"}}
                decision_ms: list[float] = []
                freshness_ms: list[float] = []
                for sample in range(samples):
                    start = time.perf_counter()
                    r = await client.post("/v1/decisions", json=request, headers=auth)
                    decision_ms.append((time.perf_counter() - start) * 1000)
                    body = r.json()
                    before = body["policy"]["version"]
                    event = {
                        "event_id": f"e-{sample}",
                        "decision_id": body["decision_id"],
                        "offer_id": body["offers"][0]["offer_id"],
                        "type": "click",
                    }
                    accepted = await client.post("/v1/events", json=event, headers=auth)
                    assert accepted.json()["learned"], accepted.text
                    t0 = time.perf_counter()
                    while True:
                        r = await client.post("/v1/decisions", json=request, headers=auth)
                        if r.json()["policy"]["version"] > before:
                            break
                        if time.perf_counter() - t0 > 10:
                            raise RuntimeError("model never caught up")
                        await asyncio.sleep(0.005)
                    freshness_ms.append((time.perf_counter() - t0) * 1000)
    quantiles = statistics.quantiles(freshness_ms, n=20)
    decision_p50 = statistics.median(decision_ms)
    return {
        "samples": samples,
        "freshness_p50_ms": statistics.median(freshness_ms),
        "freshness_p95_ms": quantiles[18],
        "decision_p50_ms": decision_p50,
        "freshness_p95_in_decision_latencies": quantiles[18] / decision_p50,
        "freshness_p95_share_of_2s_target": quantiles[18] / 2000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=60)
    result = asyncio.run(run(parser.parse_args().samples))
    write_result("freshness", result, width=40, digits=3)


if __name__ == "__main__":
    main()
