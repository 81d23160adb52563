"""Where a decision's time goes: a sampling profile of ``POST /v1/decisions``, in budget lines.

The whole server stack runs in this process (the FastAPI app through httpx's ASGI transport,
so no socket or HTTP parser on our side of the app) against a real embedded Valkey loaded with
the demo. pyinstrument samples the event loop (async mode: time awaiting the store is charged
to the coroutine that awaits it). Every sample inside the app is charged to the innermost
enclosing function named in ``BUDGET`` below; samples outside the app (the httpx client driving
it) are left out. Latency figures are in-process wall time per request, one request at a time.

    .venv/bin/python bench/profile_decision.py [--decisions 3000] [--offers 100]

Writes ``bench/out/profile/decision.html`` (the full profile) and ``budget.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from pyinstrument import Profiler
from pyinstrument.frame import Frame

from api.app import create_app
from engine.channels import CHANNELS
from engine.config import Settings
from engine.embedded import embedded_valkey

OUT = Path(__file__).resolve().parent / "out" / "profile"

# (file, function) -> budget line: a sample is charged to the innermost enclosing frame listed
# here; frames of other files (redis-py, numpy, starlette) inherit the line of their caller
BUDGET: dict[tuple[str, str], str] = {
    ("fastapi/applications.py", "__call__"): "framework (starlette, fastapi, middleware)",
    ("fastapi/dependencies/utils.py", "solve_dependencies"): "parse and auth",
    ("api/routes/decisions.py", "post_decision"): "decision (other)",
    ("engine/decisions.py", "decide"): "decision (other)",
    ("engine/loop_store.py", "read_for_decision"): "store: customer read (round trip)",
    ("engine/customers.py", "decode_attributes"): "features",
    ("engine/profiles.py", "compute_features"): "features",
    ("engine/features.py", "vector"): "features",
    ("engine/segments.py", "memberships"): "segments",
    ("engine/contacts.py", "parse_contact_history"): "eligibility",
    ("engine/eligibility.py", "evaluate_offer"): "eligibility",
    ("engine/experimentation.py", "assign_for_decision"): "experiment assignment",
    ("engine/decisions.py", "treatment_for"): "experiment assignment",
    ("engine/models.py", "scorer"): "model lookup",
    ("engine/decisions.py", "_choose"): "arbitration",
    ("engine/policies/_scorer.py", "score"): "scoring",
    ("engine/policies/_scorer.py", "sample"): "scoring",
    ("engine/arbitration.py", "select"): "arbitration",
    ("engine/decisions.py", "_record_fields"): "log records",
    ("engine/decisions.py", "_log_entry"): "log records",
    ("engine/loop_store.py", "commit_decision"): "store: caps and decision commit (round trip)",
    ("engine/decisions.py", "_log"): "store: decision log (round trip)",
    ("api/deps.py", "json"): "serialisation",
}
APP_ROOT = ("fastapi/applications.py", "__call__")  # below it: the server's work


def _load(url: str, customers: int, offers: int) -> str:
    """The demo through the CLI, as a user loads it; returns an admin key."""
    env = {**os.environ, "NBO_REDIS_URL": url}
    nbo = str(Path(sys.executable).with_name("nbo"))
    demo = [nbo, "demo", "--customers", str(customers)]
    helped = subprocess.run([nbo, "demo", "--help"], env=env, capture_output=True, text=True)
    if "--offers" in helped.stdout:
        demo += ["--offers", str(offers)]
    subprocess.run(demo, env=env, check=True, capture_output=True)
    made = subprocess.run(
        [nbo, "keys", "create", "--role", "admin", "--name", "profile"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return made.stdout.strip().splitlines()[-1]


def _request(rng: random.Random, customers: int) -> dict[str, Any]:
    channel = rng.choice(CHANNELS)
    return {
        "customer_id": f"c-{rng.randrange(customers)}",
        "channel": channel,
        "placement": "default",
        "context": {
            "page": rng.choice(["home", "product", "cart", "account"]),
            "device": rng.choice(["desktop", "ios", "android"]),
            "hour": rng.randrange(24),
        },
        "limit": rng.choice([1, 1, 1, 3]),
    }


def _budget(root: Frame | None) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)

    def walk(frame: Frame, line: str | None) -> None:
        where = (frame.file_path or "").replace("\\", "/")
        name = frame.function or ""
        named = next((v for (f, fn), v in BUDGET.items() if fn == name and where.endswith(f)), None)
        if line is not None or (named is not None and where.endswith(APP_ROOT[0])):
            line = named or line
        own = frame.time - sum(child.time for child in frame.children)
        if line is not None and own > 0:
            seconds[line] += own
        for child in frame.children:
            walk(child, line)

    if root is not None:
        walk(root, None)
    return dict(seconds)


async def _run(url: str, key: str, decisions: int, customers: int) -> dict[str, Any]:
    settings = Settings(redis_url=url, embedded_learner=False, log_level="warning")
    app = create_app(settings)
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://nbo"
        ) as client,
    ):

        async def one() -> float:
            body = _request(rng, customers)
            started = time.perf_counter()
            r = await client.post("/v1/decisions", json=body, headers=headers)
            elapsed = time.perf_counter() - started
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code}: {r.text}")
            return elapsed

        for _ in range(300):  # warm-up: caches, model snapshot, first-use imports
            await one()
        latencies = sorted([await one() for _ in range(decisions)])
        profiler = Profiler(interval=0.005, async_mode="enabled")
        profiler.start()
        for _ in range(decisions):
            await one()
        profiler.stop()
    session = profiler.last_session
    assert session is not None
    budget = _budget(session.root_frame())
    in_app = sum(budget.values())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "decision.html").write_text(profiler.output_html())
    (OUT / "decision.txt").write_text(profiler.output_text(unicode=True, show_all=False))
    return {
        "decisions": decisions,
        "latency_ms": {
            "mean": 1000 * statistics.fmean(latencies),
            "p50": 1000 * latencies[len(latencies) // 2],
            "p99": 1000 * latencies[int(len(latencies) * 0.99)],
        },
        "budget_us_per_decision": {
            line: 1e6 * s / decisions for line, s in sorted(budget.items(), key=lambda i: -i[1])
        },
        "server_us_per_decision": 1e6 * in_app / decisions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--offers", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data, embedded_valkey(Path(data), persist=False) as url:
        key = _load(url, args.customers, args.offers)
        result = asyncio.run(_run(url, key, args.decisions, args.customers))
    result["command"] = " ".join(["bench/profile_decision.py", *sys.argv[1:]])
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "budget.json").write_text(json.dumps(result, indent=2))
    lat = result["latency_ms"]
    print(
        f"in-process latency: mean {lat['mean']:.3f} ms, p50 {lat['p50']:.3f}, p99 {lat['p99']:.3f}"
    )
    total = result["server_us_per_decision"]
    print(f"server time per decision (sampled): {total:.0f} us")
    for line, us in result["budget_us_per_decision"].items():
        print(f"  {line:<50} {us:7.0f} us  {100 * us / total:5.1f}%")
    print(f"wrote {OUT / 'budget.json'} and {OUT / 'decision.html'}")


if __name__ == "__main__":
    main()
