"""The load-test runner end to end: real Valkey, real servers, real locust, a few seconds each.

Numbers are not asserted beyond sanity (this machine is shared); what is asserted is that the
harness measures what it claims: no failed request, the mix as specified, a floor to divide
by, and every artefact written.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
import redis.asyncio as redis
from asgi_lifespan import LifespanManager
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from engine.config import Settings
from loadtests.floor import COMMIT_PATH, create_floor_app
from loadtests.measure import bucket_delta, histogram_buckets, histogram_quantile, percentile
from loadtests.workload import (
    EVENT_BATCH,
    NAME_ACTIVITIES,
    NAME_DECISIONS,
    NAME_EVENT_BATCHES,
    NAME_EVENTS,
)

ROOT = Path(__file__).resolve().parent.parent


def _metrics_text() -> str:
    """The server's histogram as prometheus_client exposes it (same name, labels, format)."""
    registry = CollectorRegistry()
    histogram = Histogram(
        "nbo_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template.",
        ["method", "route", "status"],
        buckets=(0.001, 0.002, 0.005),
        registry=registry,
    )
    for seconds, times in ((0.0005, 10), (0.0015, 80), (0.003, 10)):
        for _ in range(times):
            histogram.labels("POST", "/v1/decisions", "200").observe(seconds)
    for _ in range(4):
        histogram.labels("POST", "/v1/decisions", "503").observe(0.5)
        histogram.labels("GET", "/metrics", "200").observe(0.0001)
    return generate_latest(registry).decode()


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = histogram_buckets(_metrics_text(), ["/v1/decisions", "/metrics"])
    assert set(buckets) == {"/v1/decisions"}  # GET /metrics is not a POST route
    decisions = buckets["/v1/decisions"]
    assert decisions[-1] == (math.inf, 104.0)  # summed over statuses
    # 104 observations: rank 52 lies in (1 ms, 2 ms] holding ranks 10..90
    assert histogram_quantile(0.5, decisions) == pytest.approx(0.001 + 0.001 * 42 / 80)
    # rank 102.96 falls in +Inf: the largest finite bound, as Prometheus reports it
    assert histogram_quantile(0.99, decisions) == 0.005
    earlier = [(b, c / 2) for b, c in decisions]
    assert bucket_delta(earlier, decisions)[-1] == (math.inf, 52.0)
    assert histogram_quantile(0.5, [(0.001, 0.0), (math.inf, 0.0)]) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


def test_quick_run_measures_the_mix_against_the_floor(tmp_path: Path) -> None:
    out = tmp_path / "loadtest"
    # quick mode, trimmed further: this checks the harness, not the figures
    options = ["--quick", "--rates", "60,120", "--warmup", "0.5", "--duration", "1.5"]
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.run", *options, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    summary = orjson.loads((out / "summary.json").read_bytes())
    runs = {run["name"]: run for run in summary["runs"]}
    assert set(runs) == {
        "floor",
        "floor-commit",
        "decisions",
        "rate-60",
        "rate-120",
        "events",
        "event-batches",
    }

    for run in runs.values():
        assert run["total"]["failures"] == 0, run["errors"]
        assert run["exceptions"] == 0
        assert run["total"]["requests"] > 0
        assert (out / run["files"]["locust_stats_csv"]).exists()
        assert (out / run["files"]["timeline_csv"]).exists()

    assert summary["floor_per_s"] > 0
    assert summary["floor_runs_per_s"] == [runs["floor"]["throughput_per_s"]]  # not the reference
    assert runs["floor-commit"]["ratio_to_floor"] > 0
    assert runs["decisions"]["ratio_to_floor"] > 0
    assert runs["events"]["ratio_to_floor"] > 0
    assert runs["events"]["endpoints"][NAME_EVENTS]["requests"] > 0
    assert runs["events"]["events_per_s"] == runs["events"]["throughput_per_s"]
    batches = runs["event-batches"]
    assert batches["endpoints"][NAME_EVENT_BATCHES]["requests"] > 0
    assert batches["events_per_s"] == pytest.approx(EVENT_BATCH * batches["throughput_per_s"])
    assert batches["server_side"][NAME_EVENT_BATCHES]["requests"] > 0

    for name in ("rate-60", "rate-120"):
        run = runs[name]
        mix = run["mix"]
        # a 1.5 s window cuts each user's 20-request cycle, hence the tolerance
        assert mix[NAME_DECISIONS] == pytest.approx(0.80, abs=0.06), mix
        assert mix[NAME_EVENTS] == pytest.approx(0.15, abs=0.05), mix
        assert mix[NAME_ACTIVITIES] == pytest.approx(0.05, abs=0.035), mix
        assert run["offered_requests_per_s"] == pytest.approx(run["offered_decisions_per_s"] / 0.8)
        assert run["achieved"] is not None
        server = run["server_side"][NAME_DECISIONS]
        assert server["requests"] > 0
        assert server["p99_ms"] > 0

    with open(out / "decisions_stats.csv", newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    assert int(rows[NAME_DECISIONS]["Request Count"]) > 0
    assert int(rows[NAME_DECISIONS]["Failure Count"]) == 0
    assert (out / "latency_vs_load.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_the_floor_commit_route_writes_one_decision_sized_record_per_request(
    settings: Settings, raw: redis.Redis
) -> None:
    """The reference run prices a decision's second round trip: each request must really make
    it, writing a record of a decision's shape in the customer's slot, with an expiry."""
    app = create_floor_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor.test") as c:
            plain = await c.post("/v1/decisions", json={"customer_id": "c-1", "channel": "web"})
            assert plain.status_code == 200
            assert await raw.keys("{c:c-1}:d:*") == []  # the floor itself writes nothing
            for _ in range(3):
                answer = await c.post(COMMIT_PATH, json={"customer_id": "c-1", "channel": "web"})
                assert answer.status_code == 200
                assert answer.json()["customer_id"] == "c-1"
    records = await raw.keys("{c:c-1}:d:*")
    assert len(records) == 3
    record = await raw.hgetall(records[0])
    assert len(orjson.loads(record["x"])) == 57
    assert set(record) >= {"ts", "ch", "pl", "sc", "mv", "pol", "win", "x", "xp"}
    assert 0 < await raw.ttl(records[0]) <= 60


def test_every_budget_line_names_a_function_that_exists() -> None:
    # a budget line whose function moved or was renamed silently bills its samples to its
    # caller's line: the CPU budget in docs/performance.md would then be wrong, not failing
    import ast

    from loadtests.budget import BUDGET

    ours = ("engine/", "api/", "loadtests/")
    missing = []
    for suffix, function in BUDGET:
        if not suffix.startswith(ours):
            continue  # a library's frame (fastapi, starlette): not ours to check
        path = ROOT / suffix
        names = (
            {
                node.name
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            if path.exists()
            else set()
        )
        if function not in names:
            missing.append(f"{suffix}:{function}")
    assert missing == []
