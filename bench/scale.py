"""Scale figures: Redis memory per demo customer, bulk loading, results of a big experiment.

Benchmark results, not timed tests: run by hand on the machine whose figures are published.
Everything runs against an embedded Valkey this script starts (append-only file on, as
``nbo demo`` has it with no ``NBO_REDIS_URL``), in a temporary directory.

1. **Bulk load**: ``nbo demo --customers N`` as a user runs it (a subprocess pointed at the
   server). Wall time, customers per second, and the command's own phases. Baseline in the
   same run, on a fresh database of the same server: the engine's script path the loader used
   before bulk writing (``attributes.lua`` and ``activities.lua`` per customer, pipelined 500
   at a time, the next chunk generated meanwhile) on ``--baseline-customers`` customers.
2. **Memory per customer**: MEMORY USAGE of every key of ``--sample`` random customers (profile,
   activity hash, and for those the demo experiment reached contact history, assignments,
   decision records): mean, p95, by key type. Cross-check: INFO used_memory after the load less
   before, less the keys that belong to no customer, divided by N (this includes the keyspace
   and expiry overhead MEMORY USAGE leaves out).
3. **Results query**: an experiment's cells filled as ``--exposures`` first exposures over
   ``--segments`` segments and ``--days`` days would fill them, clicks and conversions
   included, then ``engine.offline.results.experiment_results`` (what ``GET
   /v1/experiments/{id}/results`` runs) timed ``--repeats`` times. The increments come from
   the engine's own ``exposure_increments`` and ``conversion_increments``, are summed per field
   and written with the engine's ``queue_cells`` (HINCRBYFLOAT), because a million pipelines of
   one exposure each would take many minutes. The first ``--check`` exposures are also written
   one event at a time through ``RedisStore.add_experiment_cells`` (the real path) and must give
   the same cells and the same results.

Run:

    .venv/bin/python -m bench.scale [--customers 1000000] [--exposures 1000000]

Writes ``bench/out/scale.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis.asyncio as redis
from rich.console import Console

from engine.config import Settings
from engine.domain.profiles import day_number, encode_activity
from engine.offline.results import experiment_results
from engine.store.commands import queue_cells
from engine.store.embedded import embedded_valkey
from engine.store.redis import RedisStore
from engine.synthetic.demo_experiment import DEMO_EXPERIMENT_BODY
from engine.synthetic.population import customers_of, generate_population
from experiments import Experiment
from experiments.cells import conversion_increments, exposure_increments, parse_cells

OUT = Path(__file__).resolve().parent / "out" / "scale.json"
Cells = dict[str, dict[str, float]]
KEY_TYPES = {
    "a": "profile",
    "f": "activity",
    "h": "contact_history",
    "x": "assignments",
    "d": "decision_records",
    "q": "request_replays",
}


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(quantile(ms, 0.95), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
        "repeats": len(ms),
    }


# --- 1. Bulk load -------------------------------------------------------------------------


async def baseline_load(url: str, customers: int, now: float) -> dict[str, Any]:
    """The loader before bulk writing: per-customer scripts, 500 customers per pipeline."""
    store = RedisStore.from_settings(Settings(redis_url=url, redis_timeout_ms=30_000), url)
    today = day_number(now)

    def prepare(start: int, stop: int) -> tuple[list[Any], list[Any], list[str]]:
        chunk = customers_of(generate_population(start, stop, 7, now))
        attributes = [
            (
                c.customer_id,
                {k: orjson.dumps(v).decode() for k, v in c.attributes.items()},
                c.signed_up_at,
            )
            for c in chunk
        ]
        activities = [
            (c.customer_id, [encode_activity(a, now) for a in c.activities])
            for c in chunk
            if c.activities
        ]
        return attributes, activities, [c.customer_id for c in chunk]

    async def write(chunk: tuple[list[Any], list[Any], list[str]]) -> None:
        attributes, activities, ids = chunk
        await store.erase_customers_many(ids)
        await store.upsert_attributes_many(attributes)
        await store.record_activities_many(activities, today)

    started = time.perf_counter()
    try:
        writing: asyncio.Task[None] | None = None
        for start in range(0, customers, 500):
            chunk = await asyncio.to_thread(prepare, start, min(start + 500, customers))
            if writing is not None:
                await writing
            writing = asyncio.create_task(write(chunk))
        if writing is not None:
            await writing
    finally:
        await store.close()
    seconds = time.perf_counter() - started
    return {
        "customers": customers,
        "seconds": round(seconds, 2),
        "customers_per_second": round(customers / seconds),
    }


def nbo_demo(url: str, customers: int) -> dict[str, Any]:
    """``nbo demo --customers N`` in a subprocess, as a user runs it."""
    command = [str(Path(sys.executable).with_name("nbo")), "demo", "--customers", str(customers)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBO_")}
    env.update(NBO_REDIS_URL=url, COLUMNS="200")
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"nbo demo failed:\n{output}")
    summary = next(line for line in output.splitlines() if "demo loaded" in line)
    phases = {
        name: float(value)
        for name, value in re.findall(r"(customers|experiment) ([\d.]+)s", summary)
    }
    return {
        "command": f"nbo demo --customers {customers}",
        "customers": customers,
        "seconds": round(seconds, 2),
        "customers_per_second": round(customers / phases.get("customers", seconds)),
        "phases_seconds": phases,
        "output": summary.strip(),
    }


# --- 2. Memory ----------------------------------------------------------------------------


async def memory_usage(raw: redis.Redis, names: Sequence[str]) -> list[int]:
    out: list[int] = []
    for start in range(0, len(names), 1000):
        async with raw.pipeline(transaction=False) as pipe:
            for name in names[start : start + 1000]:
                pipe.memory_usage(name, samples=0)
            out += [int(m or 0) for m in await pipe.execute()]
    return out


async def measure_memory(
    raw: redis.Redis, customers: int, sample: int, used_before: int
) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    chosen = {f"c-{i}" for i in rng.choice(customers, size=min(sample, customers), replace=False)}
    by_customer: dict[str, list[str]] = defaultdict(list)
    other: list[str] = []
    async for name in raw.scan_iter(count=10_000):
        if name.startswith("{c:"):
            customer = name[3 : name.index("}")]
            if customer in chosen:
                by_customer[customer].append(name)
        else:
            other.append(name)
    per_customer: list[int] = []
    by_type: dict[str, int] = defaultdict(int)
    having: dict[str, int] = defaultdict(int)
    for customer in sorted(chosen):
        names = by_customer.get(customer, [])
        sizes = await memory_usage(raw, names)
        per_customer.append(sum(sizes))
        seen = set()
        for name, size in zip(names, sizes, strict=True):
            kind = KEY_TYPES.get(name[name.index("}") + 2], "other")
            by_type[kind] += size
            seen.add(kind)
        for kind in seen:
            having[kind] += 1
    info = await raw.info("memory")
    used_after = int(info["used_memory"])
    not_customers = sum(await memory_usage(raw, other))
    n = len(chosen)
    return {
        "sampled_customers": n,
        "memory_usage_mean_bytes": round(statistics.mean(per_customer), 1),
        "memory_usage_p50_bytes": quantile(per_customer, 0.5),
        "memory_usage_p95_bytes": quantile(per_customer, 0.95),
        "memory_usage_max_bytes": max(per_customer),
        "by_key_type_mean_bytes": {k: round(v / n, 1) for k, v in sorted(by_type.items())},
        "share_of_customers_with_key_type": {k: round(v / n, 4) for k, v in sorted(having.items())},
        "used_memory_before_bytes": used_before,
        "used_memory_after_bytes": used_after,
        "non_customer_keys_bytes": not_customers,
        "used_memory_delta_per_customer_bytes": round(
            (used_after - used_before - not_customers) / customers, 1
        ),
    }


# --- 3. Results of a big experiment -------------------------------------------------------

# the demo's experiment (variants, weights, metrics) under another name
EXPERIMENT = Experiment.model_validate({**DEMO_EXPERIMENT_BODY, "name": "Scale"})


def exposure_events(
    experiment_id: str, exposures: int, segments: int, days: int, seed: int, start: float
) -> Iterator[Cells]:
    """Per first exposure and per click or conversion, the cells the engine would add.

    Variants by the demo's weights; each unit in each segment with probability 0.12 (about
    2.4 segments a unit); a third with pre-period revenue (CUPED covariate); clicks 8% (10% in
    the bandit variant), a third of clickers convert with a lognormal order value.
    """
    rng = np.random.default_rng(seed)
    variant_ids = [v.id for v in EXPERIMENT.variants]
    variant = rng.choice(len(variant_ids), size=exposures, p=[0.4, 0.4, 0.2])
    member = rng.random((exposures, segments)) < 0.12
    names = [f"seg-{s + 1:02d}" for s in range(segments)]
    exposed_at = start + rng.integers(0, days, exposures) * 86_400.0 + rng.random(exposures) * 8e4
    pre = np.where(rng.random(exposures) < 0.33, np.round(rng.gamma(2.0, 30.0, exposures), 2), 0)
    clicked = rng.random(exposures) < np.where(variant == 1, 0.10, 0.08)
    converted = clicked & (rng.random(exposures) < 0.33)
    value = np.round(rng.lognormal(3.5, 0.6, exposures), 2)
    for i in range(exposures):
        chosen = [names[s] for s in np.flatnonzero(member[i])]
        ts = float(exposed_at[i])
        v = variant_ids[int(variant[i])]
        p, pc = float(pre[i]), float(pre[i] > 0)
        yield exposure_increments(experiment_id, 1, v, chosen, p, pc, ts)
        record = {"variant": v, "phase": 1, "segments": chosen, "at": ts, "pre": p, "pre_c": pc}
        if clicked[i]:
            yield conversion_increments(experiment_id, v, record, "k", True, 0.0, 0.0, ts + 60)
        if converted[i]:
            yield conversion_increments(
                experiment_id, v, record, "c", True, float(value[i]), 0.0, ts + 600
            )


def summed(events: Iterable[Cells]) -> Cells:
    total: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for cells in events:
        for key, fields in cells.items():
            into = total[key]
            for name, amount in fields.items():
                into[name] += amount
    return {key: dict(fields) for key, fields in total.items()}


async def write_cells(raw: redis.Redis, cells: Mapping[str, Mapping[str, float]]) -> None:
    async with raw.pipeline(transaction=False) as pipe:
        queue_cells(pipe, cells)
        await pipe.execute()


def same_cells(a: Mapping[str, str], b: Mapping[str, str]) -> float:
    """Largest relative difference between two cell hashes (they must have the same fields)."""
    if set(a) != set(b):
        raise AssertionError("bulk and per-event fills wrote different cell fields")
    return max(
        (abs(float(a[f]) - float(b[f])) / max(1.0, abs(float(a[f]))) for f in a), default=0.0
    )


async def quiet_server(raw: redis.Redis) -> float:
    """Wait for a background AOF rewrite or snapshot to end; seconds waited.

    After a million-customer load the server rewrites its append-only file in a forked child,
    which takes the second core for a while: timings taken meanwhile measure the contention.
    """
    began = time.perf_counter()
    while True:
        info = await raw.info("persistence")
        if not (info.get("aof_rewrite_in_progress") or info.get("rdb_bgsave_in_progress")):
            return time.perf_counter() - began
        await asyncio.sleep(0.5)


async def results_benchmark(
    url: str, exposures: int, segments: int, days: int, repeats: int, check: int
) -> dict[str, Any]:
    store = RedisStore.from_settings(Settings(redis_url=url, redis_timeout_ms=30_000), url)
    raw = redis.Redis.from_url(url, decode_responses=True)  # the bulk fill, outside the engine
    start = time.time() - days * 86_400
    try:
        waited = await quiet_server(raw)
        # faithfulness: the real per-event path and the bulk sum give the same cells
        events = exposure_events("scale-check-a", check, segments, days, 1, start)
        for cells in events:
            await store.add_experiment_cells(cells)
        bulk = exposure_events("scale-check-b", check, segments, days, 1, start)
        await write_cells(raw, summed(bulk))
        a = await store.read_experiment_cells("scale-check-a")
        b = await store.read_experiment_cells("scale-check-b")
        difference = same_cells(a, b)
        ra = await experiment_results(store, "scale-check-a", EXPERIMENT)
        rb = await experiment_results(store, "scale-check-b", EXPERIMENT)
        ra.pop("experiment_id")
        rb.pop("experiment_id")
        if orjson.dumps(ra) != orjson.dumps(rb):
            raise AssertionError("bulk and per-event fills give different results")

        fill_started = time.perf_counter()
        cells = summed(exposure_events("scale", exposures, segments, days, 2, start))
        await write_cells(raw, cells)
        fill_seconds = time.perf_counter() - fill_started
        stored = await store.read_experiment_cells("scale")
        units = sum(
            v.get("units", 0.0) for (_, s, _), v in parse_cells(stored, 1).items() if s == "all"
        )
        assert round(units) == exposures, units

        waited += await quiet_server(raw)
        timings: dict[str, Any] = {}
        for metric in ("conversion_rate", "revenue_per_unit"):
            for _ in range(3):
                await experiment_results(store, "scale", EXPERIMENT, metric)
            seconds = []
            for _ in range(repeats):
                began = time.perf_counter()
                body = await experiment_results(store, "scale", EXPERIMENT, metric)
                seconds.append(time.perf_counter() - began)
            assert len(body["segments"]) == segments
            timings[metric] = summary_ms(seconds)
        reads = []
        for _ in range(repeats):
            began = time.perf_counter()
            await store.read_experiment_cells("scale")
            reads.append(time.perf_counter() - began)
    finally:
        await raw.aclose()
        await store.close()
    return {
        "exposures": exposures,
        "segments": segments,
        "days": days,
        "variants": len(EXPERIMENT.variants),
        "cell_fields": len(stored),
        "fill_seconds": round(fill_seconds, 1),
        "fill_method": "engine increments summed per field, written with queue_cells",
        "checked_against_per_event_path": {
            "exposures": check,
            "max_relative_difference": difference,
            "same_results": True,
        },
        "results": timings,
        "waited_for_background_persistence_seconds": round(waited, 1),
        "read_cells_only": summary_ms(reads),
    }


# --- Driver -------------------------------------------------------------------------------


async def load_and_measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    raw = redis.Redis.from_url(url, decode_responses=True)
    try:
        if args.baseline_customers:
            base_url = f"{url}/1"
            out["baseline"] = await baseline_load(base_url, args.baseline_customers, time.time())
            await redis.Redis.from_url(base_url).flushdb()
        used_before = int((await raw.info("memory"))["used_memory"])
        load = await asyncio.to_thread(nbo_demo, url, args.customers)
        if "baseline" in out:
            load["speedup_over_baseline"] = round(
                load["customers_per_second"] / out["baseline"]["customers_per_second"], 1
            )
        out["load"] = load
        out["memory"] = await measure_memory(raw, args.customers, args.sample, used_before)
    finally:
        await raw.aclose()
    return out


def report(result: dict[str, Any]) -> None:
    console = Console(soft_wrap=True)
    console.print(f"[bold]{result['command']}[/bold]  ({result['machine']['summary']})")
    if "load" in result:
        load, memory = result["load"], result["memory"]
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in load["phases_seconds"].items())
        console.print(
            f"bulk load      `{load['command']}`: {load['seconds']:.1f} s wall "
            f"({phases}); {load['customers_per_second']:,} customers/s"
        )
        if "baseline" in result:
            base = result["baseline"]
            console.print(
                f"  baseline     script path, {base['customers']:,} customers: "
                f"{base['customers_per_second']:,} customers/s; "
                f"bulk is {load['speedup_over_baseline']}x"
            )
        console.print(
            f"memory         {memory['memory_usage_mean_bytes']:.0f} B mean, "
            f"{memory['memory_usage_p95_bytes']} B p95 per customer (MEMORY USAGE, "
            f"{memory['sampled_customers']:,} sampled); INFO used_memory delta "
            f"{memory['used_memory_delta_per_customer_bytes']:.0f} B per customer"
        )
        parts = ", ".join(f"{k} {v:.0f}" for k, v in memory["by_key_type_mean_bytes"].items())
        console.print(f"  by key type  {parts} (B, mean over sampled customers)")
    if "results" in result:
        res = result["results"]
        console.print(
            f"results query  {res['exposures']:,} exposures x {res['segments']} segments x "
            f"{res['days']} days ({res['cell_fields']:,} cell fields):"
        )
        for metric, t in res["results"].items():
            console.print(
                f"  {metric:18} median {t['median_ms']:.1f} ms, p95 {t['p95_ms']:.1f} ms "
                f"({t['repeats']} runs)"
            )
        console.print(
            f"  of which     reading the cells (HGETALL) median "
            f"{res['read_cells_only']['median_ms']:.1f} ms; measured after waiting "
            f"{res['waited_for_background_persistence_seconds']:.0f} s for a background AOF "
            "rewrite to end"
        )
    console.print(f"wrote {OUT}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000, help="0: skip load/memory")
    parser.add_argument("--sample", type=int, default=2000, help="customers MEMORY USAGE reads")
    parser.add_argument(
        "--baseline-customers", type=int, default=20_000, help="0: no baseline load"
    )
    parser.add_argument("--exposures", type=int, default=1_000_000, help="0: skip results")
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--check", type=int, default=2000, help="exposures also written per event")
    parser.add_argument(
        "--persist",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="append-only file, as `nbo demo` runs the embedded store",
    )
    args = parser.parse_args()
    command = " ".join(["-m bench.scale", *map(shlex.quote, sys.argv[1:])])
    load_before = os.getloadavg()
    result: dict[str, Any] = {"command": f".venv/bin/python {command}"}
    with (
        tempfile.TemporaryDirectory(prefix="nbo-scale-") as data_dir,
        embedded_valkey(Path(data_dir), persist=args.persist) as url,
    ):
        if args.customers:
            result |= asyncio.run(load_and_measure(url, args))
        if args.exposures:
            result["results"] = asyncio.run(
                results_benchmark(
                    url, args.exposures, args.segments, args.days, args.repeats, args.check
                )
            )
        server = asyncio.run(_server_info(url))
    cpus = os.cpu_count()
    result["machine"] = {
        "cpus": cpus,
        "python": platform.python_version(),
        "server": server,
        "append_only_file": args.persist,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "summary": f"{cpus} CPUs, {server}, load average {load_before[0]:.1f} at start",
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    report(result)


async def _server_info(url: str) -> str:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    name = "valkey" if "valkey_version" in info else "redis"
    return f"{name} {info.get('valkey_version') or info.get('redis_version')}"


if __name__ == "__main__":
    main()
